"""Transcription and translation: request -> engine options -> segments -> OpenAI's formats.

Framework-free: the API module parses the form and hands over bytes; this module decodes
them, runs the engine through its pool instance and renders every ``response_format``.
Segments stream out of the engine as they are decoded, so ``stream=true`` sends each one
the moment it exists, and a client that leaves closes the engine's generator.
"""

from __future__ import annotations

import asyncio
import math
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import structlog

from voxgate.engines.audio import PcmAudio
from voxgate.engines.base import (
    AudioDecodeError,
    DiarizeOptions,
    Segment,
    SttCapabilities,
    SttEngine,
    TranscribeOptions,
    VadOptions,
)
from voxgate.engines.stream import PcmStream
from voxgate.engines.windows import shift_segment
from voxgate.errors import (
    EngineError,
    InvalidRequestError,
    OpenAIError,
    PayloadTooLargeError,
    convert_request,
    sse_error_event,
)
from voxgate.services.decoded_budget import BYTES_PER_SAMPLE, DecodedAudioBudget
from voxgate.services.diarization import DiarizedRun, align, feeding, known_speakers, with_turns
from voxgate.services.languages import LANGUAGE_NAMES, language_code, language_name
from voxgate.services.subtitles import to_srt, to_vtt
from voxgate.wire.transcription import (
    DurationUsage,
    InputTokenDetails,
    Logprob,
    ServerVadChunking,
    TextDelta,
    TextDone,
    TokensUsage,
    Transcription,
    TranscriptionDiarized,
    TranscriptionRequest,
    TranscriptionVerbose,
    TranslationRequest,
    VerboseSegment,
    VerboseWord,
    encode_sse,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence

    from voxgate.engines.base import Diarizer, Transcoder
    from voxgate.engines.pool import EngineInstance, EngineStream
    from voxgate.telemetry import Telemetry

log = structlog.get_logger("voxgate.transcription")

Task = Literal["transcribe", "translate"]

# Whisper's encoder turns 30 s into 1500 positions: the "audio tokens" of streamed usage.
AUDIO_TOKENS_PER_SECOND = 50


@dataclass(frozen=True)
class SttJob:
    """A validated request: what to run and how to answer, everything but the audio."""

    task: Task
    model: str
    request: TranscriptionRequest | TranslationRequest
    options: TranscribeOptions
    interval: float | None = None  # chunk="interval": decode fixed windows of this length
    diarize: bool = False  # run the model's diarizer alongside the engine

    @property
    def response_format(self) -> str:
        """The format the client asked for."""
        return self.request.response_format

    @property
    def stream(self) -> bool:
        """Answer with SSE events instead of one body."""
        return isinstance(self.request, TranscriptionRequest) and self.request.stream

    @property
    def words(self) -> bool:
        """verbose_json with ``timestamp_granularities[]=word`` (``plan`` set the option)."""
        return self.options.word_timestamps

    @property
    def segments(self) -> bool:
        """verbose_json lists segments unless only words were asked for."""
        request = self.request
        return not isinstance(request, TranscriptionRequest) or ("segment" in request.granularities)


def plan(
    request: TranscriptionRequest | TranslationRequest,
    extra: dict[str, Any],
    *,
    diarizes: bool = False,
) -> SttJob:
    """Check the request on its own (no engine yet) and derive the engine options.

    ``diarizes``: the model routes to a ``[diarize.*]`` instance (gpt-4o-transcribe-diarize),
    which answers ``json``, ``text`` and ``diarized_json`` and takes no ``prompt``,
    ``timestamp_granularities`` or ``include``, as OpenAI's does.
    """
    if isinstance(request, TranslationRequest):
        options = TranscribeOptions(
            task="translate",
            prompt=request.prompt,
            temperature=request.temperature,
            extra=extra,
        )
        return SttJob(task="translate", model=request.model, request=request, options=options)
    if diarizes:
        _check_diarize_request(request)
    elif request.response_format == "diarized_json":
        raise InvalidRequestError(
            f"Model `{request.model}` does not diarize: response_format `diarized_json` needs "
            "a model with a diarizer, such as `gpt-4o-transcribe-diarize`.",
            param="response_format",
        )
    language = None
    if request.language is not None:
        language = language_code(request.language)
        if language is None:
            raise InvalidRequestError(
                f"Unknown language `{request.language}`: use an ISO-639-1 code such as "
                "`en`, `es` or `de`.",
                param="language",
            )
    options = TranscribeOptions(
        task="transcribe",
        language=language,
        prompt=request.prompt,
        temperature=request.temperature,
        word_timestamps=(
            request.response_format == "verbose_json" and "word" in request.granularities
        ),
        logprobs="logprobs" in request.include,
        vad=_vad(request),
        extra=extra,
    )
    return SttJob(
        task="transcribe",
        model=request.model,
        request=request,
        options=options,
        interval=request.chunk_seconds if request.chunk == "interval" else None,
        diarize=diarizes and (request.response_format == "diarized_json" or request.stream),
    )


_DIARIZE_FORMATS = ("json", "text", "diarized_json")


def _check_diarize_request(request: TranscriptionRequest) -> None:
    """What OpenAI's diarize model refuses is a 400 naming the parameter."""
    model = request.model
    if request.response_format not in _DIARIZE_FORMATS:
        raise InvalidRequestError(
            f"Model `{model}` answers response_format json, text or diarized_json, "
            f"not `{request.response_format}`.",
            param="response_format",
        )
    refused = [
        ("prompt", request.prompt is not None),
        ("timestamp_granularities", request.timestamp_granularities is not None),
        ("include", bool(request.include)),
    ]
    for param, sent in refused:
        if sent:
            raise InvalidRequestError(f"Model `{model}` does not take `{param}`.", param=param)


async def open_diarization(
    diarizer: EngineInstance[Diarizer] | None, job: SttJob, transcoder: Transcoder | None
) -> DiarizedRun | None:
    """The diarizer's session for ``job`` (known speakers' clips checked and embedded).

    ``None`` when the job does not diarize. Runs before the upload is opened, so a bad
    reference clip is a 400 that cost no decoding of the upload.
    """
    request = job.request
    if not job.diarize or diarizer is None or not isinstance(request, TranscriptionRequest):
        return None
    known = known_speakers(
        request.known_speaker_names,
        request.known_speaker_references,
        transcoder,
        diarizer.engine_class.sample_rate,
    )
    options = DiarizeOptions(known_speakers=known)
    session = await diarizer.run(lambda engine: engine.session(options))
    return DiarizedRun(
        session=session,
        known=frozenset(request.known_speaker_names),
        sample_rate=diarizer.engine_class.sample_rate,
    )


def _vad(request: TranscriptionRequest) -> VadOptions | None:
    strategy = request.chunking_strategy
    if isinstance(strategy, ServerVadChunking):
        return VadOptions(
            threshold=strategy.threshold,
            silence_duration_ms=strategy.silence_duration_ms,
            prefix_padding_ms=strategy.prefix_padding_ms,
        )
    if strategy == "auto" or request.chunk == "silence":
        return VadOptions()
    return None


def check_capabilities(job: SttJob, capabilities: SttCapabilities) -> None:
    """400 for anything this loaded engine cannot do, before any response starts."""
    options = job.options
    if job.task == "translate" and not capabilities.translate:
        raise InvalidRequestError(
            f"Model `{job.model}` cannot translate (it is not multilingual).", param="model"
        )
    languages = capabilities.languages
    if options.language and languages is not None and options.language not in languages:
        supported = ", ".join(languages[:20])
        raise InvalidRequestError(
            f"Model `{job.model}` does not support language `{options.language}` "
            f"(supported: {supported}).",
            param="language",
        )
    if options.word_timestamps and not capabilities.word_timestamps:
        raise InvalidRequestError(
            f"Model `{job.model}` has no word timestamps.", param="timestamp_granularities"
        )
    if options.logprobs and not capabilities.logprobs:
        raise InvalidRequestError(f"Model `{job.model}` cannot report logprobs.", param="include")


# -- audio ------------------------------------------------------------------------------------


async def open_upload(
    data: bytes,
    request: TranscriptionRequest | TranslationRequest,
    transcoder: Transcoder | None,
    sample_rate: int,
    telemetry: Telemetry,
) -> PcmStream:
    """The upload, probed but not yet decoded: float32 mono at ``sample_rate`` as it is read.

    Runs before the engine queue: what the transcoder's probe refuses (empty, not audio,
    longer than ``max_decoded_seconds``) is a 400 that has cost no decoding. Raw PCM is
    converted at once; ``max_upload_bytes`` bounds it.
    """
    if not data:
        raise InvalidRequestError("The audio file is empty.", param="file")
    with telemetry.decoding():
        return await _open(data, request, transcoder, sample_rate)


async def _open(
    data: bytes,
    request: TranscriptionRequest | TranslationRequest,
    transcoder: Transcoder | None,
    sample_rate: int,
) -> PcmStream:
    try:
        if request.file_format == "pcm":
            pcm = PcmAudio.from_pcm16(data, request.sample_rate, request.channels)
            audio = PcmStream.from_audio(await asyncio.to_thread(pcm.resample, sample_rate))
        elif transcoder is None:
            raise InvalidRequestError(
                "This server has no audio decoder installed (the `pyav` transcoder is "
                "disabled); send raw 16-bit PCM with file_format=pcm.",
                param="file",
            )
        else:
            audio = await asyncio.to_thread(transcoder.open, data, sample_rate)
    except AudioDecodeError as exc:
        raise InvalidRequestError(str(exc), param="file") from None
    if audio.expected_seconds == 0:
        audio.close()
        raise InvalidRequestError(NO_AUDIO, param="file")
    return audio


NO_AUDIO = "The audio file contains no audio."


def _upload_error(exc: AudioDecodeError) -> InvalidRequestError:
    """What a decoding failure found only while the engine reads the upload answers."""
    return InvalidRequestError(str(exc), param="file")


# -- running the engine -----------------------------------------------------------------------


async def open_segments(
    instance: EngineInstance[SttEngine],
    job: SttJob,
    audio: PcmAudio | PcmStream,
    budget: DecodedAudioBudget | None = None,
    diarized: DiarizedRun | None = None,
) -> EngineStream[Segment]:
    """Queue for the engine, check what it can do, and start its segment generator.

    The queue admits the request before any audio is decoded (a 429 costs nothing); then
    ``budget`` (the server's ``max_decoded_audio_bytes``) is charged with what the engine
    will hold, and the engine reads the upload as it goes. Closing the returned stream
    closes the upload's decoder and gives the budget back. With ``diarized``, the diarizer
    hears the upload as the engine reads it, and has its turns once the segments end.
    """
    upload = audio if isinstance(audio, PcmStream) else PcmStream.from_audio(audio)
    retry_after = instance.retry_after()

    def start(engine: SttEngine) -> Iterator[Segment]:
        capabilities = engine.loaded_capabilities()
        check_capabilities(job, capabilities)
        if budget is not None:
            held = _held_bytes(engine, upload, job.interval)
            upload.on_close(budget.reserve(held, retry_after=retry_after))
        audio, options = upload, job.options
        if diarized is not None:
            audio = feeding(upload, diarized)
            if capabilities.word_timestamps:  # turns are aligned word by word
                options = msgspec.structs.replace(options, word_timestamps=True)
        if job.interval is None:
            segments = engine.transcribe_stream(audio, options)
        else:
            segments = _in_windows(engine, audio, options, job.interval)
        if diarized is not None:
            segments = with_turns(segments, diarized)
        return _ClosingSegments(segments, audio)

    try:
        return await instance.open_stream(start, audio_in=upload.expected_seconds or 0.0)
    except BaseException:
        upload.close()
        raise


def _held_bytes(engine: SttEngine, upload: PcmStream, interval: float | None) -> int:
    """Bytes of decoded audio ``engine`` holds at once while it reads ``upload``."""
    whole = upload.expected_seconds
    window = interval if interval is not None else engine.stream_window_seconds()
    seconds = 2 * window if window > 0 else None  # the window in use and the one read ahead
    if whole is not None:
        seconds = whole if seconds is None else min(seconds, whole)
    if seconds is None:  # neither says: as much as the transcoder accepts
        seconds = _MAX_UNKNOWN_SECONDS
    return math.ceil(seconds * upload.sample_rate) * BYTES_PER_SAMPLE


_MAX_UNKNOWN_SECONDS = 4 * 3600.0  # an upload of unknown length, read whole: the default limit


class _ClosingSegments:
    """The engine's segments; closing them (or their end) closes the upload's decoder too.

    A class, not a generator: closing a generator that never started runs none of its body,
    and the upload must be closed (and the budget released) however the stream ends.
    """

    def __init__(self, segments: Iterator[Segment], upload: PcmStream) -> None:
        self._segments = segments
        self._upload = upload

    def __iter__(self) -> _ClosingSegments:
        return self

    def __next__(self) -> Segment:
        return next(self._segments)

    def close(self) -> None:
        try:
            closer = getattr(self._segments, "close", None)
            if closer is not None:
                closer()
        finally:
            self._upload.close()


def _in_windows(
    engine: SttEngine, audio: PcmStream, options: TranscribeOptions, seconds: float
) -> Iterator[Segment]:
    """h2oGPT's ``chunk=interval``: fixed windows, timestamps shifted back onto the file."""
    step = round(seconds * audio.sample_rate)
    number = 0
    begin = 0
    while True:
        samples = audio.read(step)
        if len(samples) == 0:
            return
        window = PcmAudio(samples, audio.sample_rate)
        offset = begin / audio.sample_rate
        for segment in engine.transcribe(window, options):
            yield shift_segment(segment, offset, number)
            number += 1
        begin += len(samples)
        if len(samples) < step:
            return


async def open_pcm(
    instance: EngineInstance[SttEngine],
    model: str,
    audio: PcmAudio,
    *,
    language: str | None,
    prompt: str | None,
    max_bytes: int,
) -> AsyncGenerator[Segment, None]:
    """Decoded audio through the same checks and engine run as an HTTP upload of raw PCM.

    For callers outside an HTTP handler (``RouteContext.transcribe``): the fields are
    validated as the form's are, ``max_bytes`` (``[server] max_upload_bytes``) bounds the
    audio as 16-bit mono PCM, and every error that an upload would get before its response
    starts is raised here, before the first segment. The generator closes the engine's.
    """
    fields = {"model": model, "language": language, "prompt": prompt}
    present = {key: value for key, value in fields.items() if value is not None}
    job = plan(convert_request(present, TranscriptionRequest), {})
    if len(audio) * 2 > max_bytes:  # what the same audio as an s16le upload would weigh
        raise PayloadTooLargeError(max_bytes, len(audio) * 2)
    if len(audio) == 0:
        raise InvalidRequestError("The audio contains no audio.", param="file")
    audio = await asyncio.to_thread(audio.resample, instance.engine_class.sample_rate)
    stream = await open_segments(instance, job, audio)
    return _closing(stream)


async def _closing(stream: EngineStream[Segment]) -> AsyncGenerator[Segment, None]:
    try:
        async for segment in stream:
            yield segment
    finally:
        await stream.aclose()


async def collect(stream: EngineStream[Segment]) -> list[Segment]:
    """Every segment; closes the engine generator if this task is cancelled.

    An upload that fails to decode part-way (longer than the limit once decoded) is a 400.
    """
    try:
        return [segment async for segment in stream]
    except AudioDecodeError as exc:
        raise _upload_error(exc) from None
    finally:
        await stream.aclose()


# -- rendering --------------------------------------------------------------------------------


class TextJoiner:
    """Joins segment texts the same way for every response: streamed deltas and final texts.

    The one place segment texts meet (HTTP ``text``/``json``/``verbose_json``, SSE deltas,
    realtime and live transcripts). Whisper's segments start with a space of their own; an
    engine whose segments do not (``"Hello."``, ``"World."``) gets one added between them,
    except where the script itself uses none (Chinese, Japanese, Thai): their texts run on.
    """

    def __init__(self) -> None:
        self._parts: list[str] = []

    def add(self, text: str) -> str:
        """The delta this segment adds (empty when it adds nothing)."""
        if not self._parts:
            piece = text.strip()
        else:
            piece = text.rstrip()
            if piece and _needs_space(self._parts[-1][-1], piece[0]):
                piece = " " + piece
        if piece:
            self._parts.append(piece)
        return piece

    @property
    def text(self) -> str:
        """Everything added so far."""
        return "".join(self._parts)


def _needs_space(before: str, after: str) -> bool:
    """Whether two segments meeting at characters ``before`` and ``after`` need a space."""
    if before.isspace() or after.isspace():
        return False
    return not (_runs_on(before) or _runs_on(after))


# Scripts written without spaces between words, beyond the wide (CJK) characters
_RUN_ON_RANGES = ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF))  # Thai, Lao, Myanmar, Khmer
_HANGUL_RANGES = ((0x1100, 0x11FF), (0xAC00, 0xD7AF))  # wide, yet Korean puts spaces between words


def _runs_on(char: str) -> bool:
    """A character of a script written without spaces between words (or its punctuation)."""
    code = ord(char)
    if any(low <= code <= high for low, high in _RUN_ON_RANGES):
        return True
    if any(low <= code <= high for low, high in _HANGUL_RANGES):
        return False
    return unicodedata.east_asian_width(char) in {"W", "F"}  # CJK ideographs, kana, 。、


def joined_text(segments: Sequence[Segment]) -> str:
    """The transcript of ``segments``, exactly what the streamed deltas add up to."""
    joiner = TextJoiner()
    for segment in segments:
        joiner.add(segment.text)
    return joiner.text


def _r(value: float) -> float:
    return round(float(value), 3)


def _logprobs(segments: Sequence[Segment]) -> list[Logprob]:
    return [
        Logprob(token=lp.token, logprob=lp.logprob, bytes=lp.bytes)
        for segment in segments
        for lp in segment.logprobs or []
    ]


def _language(job: SttJob, segments: Sequence[Segment]) -> str:
    if job.task == "translate":
        return "english"
    detected = next((s.language for s in segments if s.language), None)
    return language_name(detected or job.options.language)


def _verbose_segment(segment: Segment) -> VerboseSegment:
    return VerboseSegment(
        id=segment.id,
        seek=segment.seek,
        start=_r(segment.start),
        end=_r(segment.end),
        text=segment.text,
        tokens=list(segment.tokens),
        temperature=float(segment.temperature),
        avg_logprob=float(segment.avg_logprob),
        compression_ratio=float(segment.compression_ratio),
        no_speech_prob=float(segment.no_speech_prob),
    )


def _verbose_words(segments: Sequence[Segment]) -> list[VerboseWord]:
    return [
        VerboseWord(word=word.word.strip(), start=_r(word.start), end=_r(word.end))
        for segment in segments
        for word in segment.words or []
        if word.word.strip()
    ]


def duration_usage(duration: float) -> DurationUsage:
    """whisper-1's usage: whole seconds of audio, rounded up."""
    return DurationUsage(seconds=math.ceil(duration))


def render(
    job: SttJob,
    segments: Sequence[Segment],
    duration: float,
    diarized: DiarizedRun | None = None,
) -> tuple[bytes, str]:
    """The body (UTF-8) and media type for ``job.response_format``.

    Text media types carry no charset here: Litestar's ``Response`` adds ``charset=utf-8`` to
    every ``text/*`` type itself, so naming it here too would send it twice.
    """
    text = joined_text(segments)
    fmt = job.response_format
    transcribing = job.task == "transcribe"
    logprobs = _logprobs(segments) if job.options.logprobs else None
    if fmt == "text":
        return (text + "\n").encode(), "text/plain"
    if fmt == "srt":
        return to_srt(segments).encode(), "text/plain"
    if fmt == "vtt":
        return to_vtt(segments).encode(), "text/vtt"
    body: msgspec.Struct
    if fmt == "diarized_json" and diarized is not None:
        body = TranscriptionDiarized(
            task="transcribe",
            duration=_r(duration),
            text=text,
            segments=align(segments, diarized.turns or [], diarized.known),
            usage=duration_usage(duration),
        )
    elif fmt == "verbose_json":
        body = TranscriptionVerbose(
            task=job.task,
            language=_language(job, segments),
            duration=_r(duration),
            text=text,
            segments=[_verbose_segment(s) for s in segments] if job.segments else None,
            words=_verbose_words(segments) if job.words else None,
            usage=duration_usage(duration) if transcribing else None,
            logprobs=logprobs,
        )
    else:
        body = Transcription(
            text=text,
            usage=duration_usage(duration) if transcribing else None,
            logprobs=logprobs,
        )
    return msgspec.json.encode(body), "application/json"


def tokens_usage(output_tokens: int, duration: float) -> TokensUsage:
    """Streamed usage in the tokens shape the SDK expects on ``transcript.text.done``."""
    audio_tokens = math.ceil(duration * AUDIO_TOKENS_PER_SECOND)
    return TokensUsage(
        input_tokens=audio_tokens,
        output_tokens=output_tokens,
        total_tokens=audio_tokens + output_tokens,
        input_token_details=InputTokenDetails(text_tokens=0, audio_tokens=audio_tokens),
    )


def _delta(
    job: SttJob, joiner: TextJoiner, segment: Segment, all_logprobs: list[Logprob]
) -> TextDelta | None:
    """The delta event ``segment`` adds (``None`` when it adds no text)."""
    delta = joiner.add(segment.text)
    logprobs = _logprobs([segment]) if job.options.logprobs else None
    if logprobs:
        all_logprobs.extend(logprobs)
    return TextDelta(delta=delta, logprobs=logprobs or None) if delta else None


async def sse_events(
    job: SttJob,
    stream: EngineStream[Segment],
    duration: float | Callable[[], float],
    diarized: DiarizedRun | None = None,
) -> AsyncIterator[bytes]:
    """``transcript.text.delta`` per decoded segment, then ``transcript.text.done``.

    Diarized, the ``transcript.text.segment`` events come after the last delta, once the
    speakers are known (they are clustered over the whole upload), before the ``done``.

    Errors after the first byte become an SSE ``{"error": ...}`` event; leaving (client
    gone, cancellation) closes the engine generator. ``duration`` may be a callable read
    at the end (an upload's length is exact once it has been decoded).
    """
    joiner = TextJoiner()
    sent = False
    output_tokens = 0
    all_logprobs: list[Logprob] = []
    segments: list[Segment] = []
    try:
        async for segment in stream:
            if diarized is not None:
                segments.append(segment)
            output_tokens += len(segment.tokens)
            event = _delta(job, joiner, segment, all_logprobs)
            if event is not None:
                sent = True
                yield encode_sse(event)
        if not sent:
            yield encode_sse(TextDelta(delta=""))
        if diarized is not None:
            for piece in align(segments, diarized.turns or [], diarized.known):
                yield encode_sse(piece)
        seconds = duration() if callable(duration) else duration
        yield encode_sse(
            TextDone(
                text=joiner.text,
                usage=tokens_usage(output_tokens, seconds),
                logprobs=all_logprobs if job.options.logprobs else None,
            )
        )
    except OpenAIError as exc:
        yield sse_error_event(exc)
    except AudioDecodeError as exc:
        yield sse_error_event(_upload_error(exc))
    except Exception:
        log.exception("transcription failed mid-stream", model=job.model)
        yield sse_error_event(EngineError("The engine failed; the server log has the details."))
    finally:
        await stream.aclose()


__all__ = [
    "LANGUAGE_NAMES",
    "SttJob",
    "TextJoiner",
    "collect",
    "joined_text",
    "open_diarization",
    "open_pcm",
    "open_segments",
    "open_upload",
    "plan",
    "render",
    "sse_events",
]
