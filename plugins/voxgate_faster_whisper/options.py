"""One request's decoding arguments: config, OpenAI options and the engine's ``extra`` params.

Both faster-whisper entry points (``WhisperModel.transcribe`` and
``BatchedInferencePipeline.transcribe``) take the same keyword names; the batched one always
cuts the audio with VAD and takes ``batch_size``, so only those differ here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType

from voxgate import InvalidRequestError

if TYPE_CHECKING:
    from voxgate import TranscribeOptions
    from voxgate_faster_whisper.config import FasterWhisperConfig

# OpenAI's temperature=0 means "0, then higher temperatures when decoding fails".
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def _bounded(lo: float, hi: float, *, strict_lo: bool = False) -> msgspec.Meta:
    return msgspec.Meta(gt=lo, le=hi) if strict_lo else msgspec.Meta(ge=lo, le=hi)


class RequestExtra(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """The engine-specific request parameters ``faster-whisper`` accepts (``extra``).

    Each maps to the faster-whisper ``transcribe`` argument of the same name; thresholds also
    take ``null`` to turn the check off. Strings are coerced (``"3"``, ``"true"``), because
    multipart form fields arrive as text.
    """

    beam_size: Annotated[int, _bounded(1, 64)] | UnsetType = UNSET
    best_of: Annotated[int, _bounded(1, 64)] | UnsetType = UNSET
    patience: Annotated[float, _bounded(0, 10, strict_lo=True)] | UnsetType = UNSET
    length_penalty: Annotated[float, _bounded(0, 10)] | UnsetType = UNSET
    repetition_penalty: Annotated[float, _bounded(0, 10, strict_lo=True)] | UnsetType = UNSET
    no_repeat_ngram_size: Annotated[int, _bounded(0, 64)] | UnsetType = UNSET
    hotwords: Annotated[str, msgspec.Meta(max_length=1000)] | UnsetType | None = UNSET
    vad_filter: bool | UnsetType = UNSET
    compression_ratio_threshold: (
        Annotated[float, _bounded(0, 100, strict_lo=True)] | UnsetType | None
    ) = UNSET
    log_prob_threshold: Annotated[float, _bounded(-100, 0)] | UnsetType | None = UNSET
    no_speech_threshold: Annotated[float, _bounded(0, 1)] | UnsetType | None = UNSET
    hallucination_silence_threshold: (
        Annotated[float, _bounded(0, 600, strict_lo=True)] | UnsetType | None
    ) = UNSET
    without_timestamps: bool | UnsetType = UNSET
    suppress_blank: bool | UnsetType = UNSET

    def given(self) -> dict[str, Any]:
        """The parameters the request set, by name."""
        return {
            name: getattr(self, name)
            for name in self.__struct_fields__
            if getattr(self, name) is not UNSET
        }


EXTRA_PARAMS: tuple[str, ...] = RequestExtra.__struct_fields__
_AT_KEY = re.compile(r" - at `\$\.(?P<key>[^`.\[]+)")
_UNKNOWN_KEY = re.compile(r"unknown field `(?P<key>[^`]+)`")


def parse_extra(extra: dict[str, Any]) -> RequestExtra:
    """Validate a request's ``extra``; a bad key becomes a 400 naming that key."""
    try:
        return msgspec.convert(extra, RequestExtra, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        unknown = _UNKNOWN_KEY.search(message)
        if unknown is not None:
            key = unknown.group("key")
            raise InvalidRequestError(
                f"Unrecognized parameter `{key}` for the faster-whisper engine "
                f"(supported: {', '.join(EXTRA_PARAMS)}).",
                param=key,
            ) from None
        at = _AT_KEY.search(message)
        if at is None:
            raise InvalidRequestError(f"Invalid engine parameters: {message}.") from None
        key = at.group("key")
        reason = message[: at.start()]
        raise InvalidRequestError(f"Invalid value for `{key}`: {reason}.", param=key) from None


def transcribe_kwargs(
    config: FasterWhisperConfig, options: TranscribeOptions, extra: RequestExtra
) -> dict[str, Any]:
    """Keyword arguments for faster-whisper's ``transcribe`` (either pipeline).

    Request options win over the engine's config; ``extra`` wins over both, except that a
    request's ``chunking_strategy`` (``options.vad``) always turns VAD on.
    """
    kwargs: dict[str, Any] = {
        "task": options.task,
        "language": options.language or config.language,
        "initial_prompt": options.prompt or config.initial_prompt,
        "temperature": (
            list(FALLBACK_TEMPERATURES) if options.temperature == 0 else options.temperature
        ),
        "word_timestamps": wants_word_timestamps(config, options),
        "beam_size": config.beam_size,
        "hotwords": config.hotwords,
        "condition_on_previous_text": config.condition_on_previous_text,
    }
    given = extra.given()
    vad_requested = given.pop("vad_filter", config.vad_filter)
    kwargs.update(given)
    if given.get("hallucination_silence_threshold") is not None:
        kwargs["word_timestamps"] = True  # faster-whisper needs the words to find the silences
    vad_on = options.vad is not None or vad_requested
    vad_parameters = _vad_parameters(config, options, batched=config.batched) if vad_on else None
    if config.batched:
        # The batched pipeline always segments with VAD; its own defaults (30 s chunks cut at
        # 160 ms silences) suit batching unless VAD settings were asked for.
        kwargs.update(vad_filter=True, vad_parameters=vad_parameters, batch_size=config.batch_size)
    else:
        kwargs.update(vad_filter=vad_on, vad_parameters=vad_parameters)
    return kwargs


def wants_word_timestamps(config: FasterWhisperConfig, options: TranscribeOptions) -> bool:
    """Word alignment is needed for words, and for logprobs (built from word probabilities)."""
    return options.word_timestamps or options.logprobs or config.word_timestamps


def _vad_parameters(
    config: FasterWhisperConfig, options: TranscribeOptions, *, batched: bool
) -> dict[str, Any]:
    base = config.vad_parameters
    params: dict[str, Any] = {
        "threshold": base.threshold,
        "min_speech_duration_ms": base.min_speech_duration_ms,
        "min_silence_duration_ms": base.min_silence_duration_ms,
        "speech_pad_ms": base.speech_pad_ms,
    }
    if base.max_speech_duration_s is not None and not batched:  # batched: always 30 s
        params["max_speech_duration_s"] = base.max_speech_duration_s
    if options.vad is not None:
        params["threshold"] = options.vad.threshold
        params["min_silence_duration_ms"] = options.vad.silence_duration_ms
        params["speech_pad_ms"] = options.vad.prefix_padding_ms
    return params
