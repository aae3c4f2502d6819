"""``FasterWhisperEngine``: Whisper on CTranslate2, streaming segments as they are decoded."""

from __future__ import annotations

import gc
import math
from typing import TYPE_CHECKING, Any, ClassVar

import structlog

from voxgate import (
    InvalidRequestError,
    Segment,
    SttCapabilities,
    SttEngine,
    TokenLogprob,
    Word,
    shift_segment,
    windows,
)
from voxgate_faster_whisper.config import FasterWhisperConfig
from voxgate_faster_whisper.options import parse_extra, transcribe_kwargs

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from voxgate import PcmAudio, PcmStream, TranscribeOptions

log = structlog.get_logger("voxgate.faster_whisper")

_MIN_PROBABILITY = 1e-12  # log(0) is -inf, which JSON cannot carry
_PREFERRED_COMPUTE = {"cpu": "int8", "cuda": "float16"}


class FasterWhisperEngine(SttEngine[FasterWhisperConfig]):
    """Kind ``faster-whisper``: any CTranslate2-converted Whisper model.

    ``transcribe`` is lazy: each segment is yielded as soon as faster-whisper has decoded it,
    so streaming responses start early and closing the generator stops the decoding.

    Request ``extra`` parameters (validated; anything else is a 400 naming the key):
    ``beam_size``, ``best_of``, ``patience``, ``length_penalty``, ``repetition_penalty``,
    ``no_repeat_ngram_size``, ``hotwords``, ``vad_filter``, ``compression_ratio_threshold``,
    ``log_prob_threshold``, ``no_speech_threshold``, ``hallucination_silence_threshold``,
    ``without_timestamps``, ``suppress_blank``, as faster-whisper's ``transcribe`` names them.

    Logprobs: faster-whisper exposes no per-token log probabilities, so ``Segment.logprobs``
    holds one entry per *word*: the word as decoded (leading space included) and the log of
    the probability word alignment gives it (the decoder's token probabilities, per word).
    Every segment carries the detected ``language`` and ``language_probability``.
    """

    kind: ClassVar[str] = "faster-whisper"
    capabilities: ClassVar[SttCapabilities] = SttCapabilities(
        translate=True, word_timestamps=True, logprobs=True, languages=None
    )

    _model: Any = None  # faster_whisper.WhisperModel once loaded
    _batched_pipeline: Any = None  # the BatchedInferencePipeline class, with ``batched``

    def load(self) -> None:
        """Resolve the model source and load it; never downloads (a directory is required)."""
        import ctranslate2  # type: ignore[import-untyped]  # noqa: PLC0415 - heavy
        import faster_whisper  # type: ignore[import-untyped]  # noqa: PLC0415 - heavy

        cfg = self.config
        path = self.context.model_path(cfg.model)
        _check_model_dir(path)
        device = cfg.device
        if device == "auto":
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        compute_type = cfg.compute_type
        if compute_type == "default":
            preferred = _PREFERRED_COMPUTE[device]
            supported = ctranslate2.get_supported_compute_types(device, cfg.device_index)
            compute_type = preferred if preferred in supported else "default"
        model = faster_whisper.WhisperModel(
            str(path),
            device=device,
            device_index=cfg.device_index,
            compute_type=compute_type,
            cpu_threads=cfg.cpu_threads,
            num_workers=cfg.num_workers,
            local_files_only=True,
        )
        if cfg.language is not None and cfg.language not in model.supported_languages:
            msg = f"language `{cfg.language}` is not one the model `{cfg.model}` knows"
            raise ValueError(msg)
        self._model = model
        self._batched_pipeline = faster_whisper.BatchedInferencePipeline if cfg.batched else None
        log.info(
            "faster-whisper model loaded",
            instance=self.context.instance,
            path=str(path),
            device=device,
            compute_type=compute_type,
            multilingual=bool(model.model.is_multilingual),
            batched=cfg.batched,
        )

    def unload(self) -> None:
        """Drop the model; CTranslate2 frees its memory when the last reference goes."""
        self._model = None
        self._batched_pipeline = None
        gc.collect()

    def loaded_capabilities(self) -> SttCapabilities:
        """English-only models (``*.en``) cannot translate and know one language."""
        model = self._model
        if model is None:
            return self.capabilities
        return SttCapabilities(
            translate=bool(model.model.is_multilingual),
            word_timestamps=True,
            logprobs=True,
            languages=list(model.supported_languages),
        )

    def transcribe(self, audio: PcmAudio, options: TranscribeOptions) -> Iterator[Segment]:
        """Yield segments as faster-whisper decodes them (see the class docstring)."""
        yield from self._windowed(audio.resample(self.sample_rate), options)

    def transcribe_stream(self, audio: PcmStream, options: TranscribeOptions) -> Iterator[Segment]:
        """``transcribe``, decoding the upload one window at a time (``window_seconds``)."""
        if audio.sample_rate != self.sample_rate:  # the server decodes at ours: never here
            yield from self.transcribe(audio.read_all(), options)
        else:
            yield from self._windowed(audio, options)

    def stream_window_seconds(self) -> float:
        """Uploads are read one ``window_seconds`` window at a time."""
        return self.config.window_seconds

    def _windowed(
        self, audio: PcmAudio | PcmStream, options: TranscribeOptions
    ) -> Iterator[Segment]:
        model = self._model
        if model is None:
            msg = "FasterWhisperEngine.transcribe called before load()"
            raise RuntimeError(msg)
        cfg = self.config
        kwargs = transcribe_kwargs(cfg, options, parse_extra(options.extra))
        _check_request(model, kwargs)
        return self._segments(model, audio, options, kwargs)

    def _segments(
        self,
        model: Any,
        audio: PcmAudio | PcmStream,
        options: TranscribeOptions,
        kwargs: dict[str, Any],
    ) -> Iterator[Segment]:
        cfg = self.config
        runner = model if self._batched_pipeline is None else self._batched_pipeline(model)
        show_words = options.word_timestamps or cfg.word_timestamps
        number = 0
        detected: tuple[str, float] | None = None
        # Windows bound memory on long audio (see ``window_seconds``); numpy in, so
        # faster-whisper never decodes anything itself.
        for offset, piece in windows(audio, cfg.window_seconds):
            decoded, info = runner.transcribe(piece.samples, **kwargs)
            if detected is None:
                detected = (str(info.language), float(info.language_probability))
                kwargs["language"] = detected[0]  # later windows keep the first's language
            try:
                for segment in decoded:
                    converted = _segment(
                        segment,
                        number,
                        language=detected[0],
                        language_probability=detected[1],
                        words=show_words,
                        logprobs=options.logprobs,
                    )
                    yield shift_segment(converted, offset, number) if offset else converted
                    number += 1
            finally:
                decoded.close()  # stop decoding now when the client has gone


def _check_model_dir(path: Path) -> None:
    """faster-whisper downloads anything that is not a directory with a tokenizer: refuse."""
    if not path.is_dir():
        msg = f"faster-whisper needs a model directory, and `{path}` is not one"
        raise FileNotFoundError(msg)
    for name in ("model.bin", "tokenizer.json"):
        if not (path / name).is_file():
            msg = f"`{path}` has no `{name}`: not a CTranslate2 Whisper model"
            raise FileNotFoundError(msg)


def _check_request(model: Any, kwargs: dict[str, Any]) -> None:
    """faster-whisper would silently fall back to English on an English-only model."""
    language = kwargs["language"]
    if language is not None and language not in model.supported_languages:
        raise InvalidRequestError(
            f"Language `{language}` is not supported by this model.", param="language"
        )
    if kwargs["task"] == "translate" and not model.model.is_multilingual:
        raise InvalidRequestError("This model is English-only and cannot translate.", param="model")


def _segment(
    segment: Any,
    index: int,
    *,
    language: str,
    language_probability: float,
    words: bool,
    logprobs: bool,
) -> Segment:
    """faster-whisper's segment as voxgate's, with plain Python floats and ids from 0."""
    start = round(float(segment.start), 3)
    end = max(start, round(float(segment.end), 3))
    aligned = segment.words or []
    return Segment(
        id=index,
        seek=int(segment.seek),
        start=start,
        end=end,
        text=segment.text,
        tokens=[int(token) for token in segment.tokens],
        temperature=float(segment.temperature or 0.0),
        avg_logprob=float(segment.avg_logprob),
        compression_ratio=float(segment.compression_ratio),
        no_speech_prob=float(segment.no_speech_prob),
        words=[_word(w) for w in aligned] if words and segment.words is not None else None,
        logprobs=[_logprob(w) for w in aligned] if logprobs else None,
        language=language,
        language_probability=language_probability,
    )


def _word(word: Any) -> Word:
    start = round(float(word.start), 3)
    return Word(
        word=word.word.strip(),
        start=start,
        end=max(start, round(float(word.end), 3)),
        probability=float(word.probability),
    )


def _logprob(word: Any) -> TokenLogprob:
    text = str(word.word)
    return TokenLogprob(
        token=text,
        logprob=math.log(max(float(word.probability), _MIN_PROBABILITY)),
        bytes=list(text.encode()),
    )
