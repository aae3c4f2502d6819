"""Text to speech: validate, map the voice, synthesize piece by piece, encode as it comes.

Every check that can fail happens before the first byte: the request, the model, the voice
mapping, and the engine's own checks, because the first piece is synthesized before the
response starts. After that, audio leaves as each piece is ready, through one streaming
encoder per response. Pieces join with a few milliseconds of fade, so joins never click.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import math
import re
import threading
import time
import wave
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import structlog

from voxgate.engines.audio import PcmAudio
from voxgate.engines.base import SpeechOptions, Transcoder, TtsEngine, VoiceChoice
from voxgate.errors import (
    EngineError,
    InvalidRequestError,
    OpenAIError,
    convert_request,
    sse_error_event,
)
from voxgate.services.sentences import pieces
from voxgate.wire.speech import (
    CONTENT_TYPES,
    AudioDelta,
    AudioDone,
    SpeechRequest,
    SpeechUsage,
    encode_event,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator

    from voxgate.engines.base import AudioEncoder
    from voxgate.engines.pool import EngineInstance, EngineStream
    from voxgate.runtime import Runtime

log = structlog.get_logger("voxgate.speech")

OPENAI_RATE = 24_000  # every OpenAI speech format is 24 kHz mono (opus decodes at 48 kHz)
FADE_SECONDS = 0.004
AUDIO_TOKENS_PER_SECOND = 50


@dataclass(frozen=True)
class SpeechJob:
    """A validated request: the instance, the voice, the options and the output."""

    request: SpeechRequest
    instance: EngineInstance[TtsEngine]
    voice: VoiceChoice
    options: SpeechOptions
    sample_rate: int
    texts: list[str]
    transcoder: Transcoder  # the server's, which encodes ``request.response_format``
    tempo: Callable[[PcmAudio, float], PcmAudio] | None = None

    @property
    def media_type(self) -> str:
        """Content type of the response body."""
        if self.request.stream_format == "sse":
            return "text/event-stream"
        return CONTENT_TYPES[self.request.response_format]


NOTHING_SPEAKABLE = (
    "`input` has nothing speakable: it needs at least one letter or digit "
    "(punctuation, symbols and control characters alone are not spoken)."
)
# C0 and C1 control characters but tab and line breaks, and lone surrogates: no engine can
# say them, and a NUL ends the text early in some (espeak-ng reads C strings)
_UNSPEAKABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def speakable_pieces(text: str, *, opening: bool = True) -> list[str]:
    """``text`` in synthesis order, without control characters and pieces with no word.

    ``opening``: the first clause goes alone (see ``sentences.PiecePolicy``).

    The rule every engine gets, so ``"...!!!"`` or ``"-"`` is the same 400 on each, rather
    than silence from one, noise from another and a failed engine run from a third.
    """
    cleaned = _UNSPEAKABLE.sub(" ", text)
    return [piece for piece in pieces(cleaned, opening=opening) if _has_word(piece)]


def _has_word(text: str) -> bool:
    return any(character.isalnum() for character in text)


def plan(runtime: Runtime, request: SpeechRequest) -> SpeechJob:
    """Everything that does not need the engine: model, voice, rate, text pieces."""
    job = plan_voice(runtime, request)
    texts = speakable_pieces(request.input)
    if not texts:
        raise InvalidRequestError(NOTHING_SPEAKABLE, param="input")
    return replace(job, texts=texts)


def plan_voice(runtime: Runtime, request: SpeechRequest) -> SpeechJob:
    """``plan`` less the text (``texts`` empty): a template for text that comes later (chat)."""
    instance = runtime.tts_engine(request.model)
    voice = runtime.hooks.map_voice(request.voice_id, request.model, instance.name, runtime.config)
    if voice is None:
        raise InvalidRequestError(_no_voice(request, instance.name), param="voice")
    rate = request.sample_rate or (
        request.model_extensions.sr if request.model_extensions else None
    )
    transcoder = runtime.transcoder
    if transcoder is None or request.response_format not in transcoder.formats:
        raise InvalidRequestError(
            f"This server cannot encode `{request.response_format}` (no transcoder for it).",
            param="response_format",
        )
    native_speed = instance.engine_class.capabilities.speed_is_native(request.speed)
    options = SpeechOptions(
        speed=request.speed if native_speed else 1.0, instructions=request.instructions
    )
    tempo = None
    if not native_speed:
        if type(transcoder).tempo is Transcoder.tempo:
            raise InvalidRequestError(
                f"Model `{request.model}` cannot change speed on this server.", param="speed"
            )
        tempo = transcoder.tempo
    return SpeechJob(
        request=request,
        instance=instance,
        voice=voice,
        options=options,
        sample_rate=rate or OPENAI_RATE,
        texts=[],
        transcoder=transcoder,
        tempo=tempo,
    )


def _no_voice(request: SpeechRequest, instance: str) -> str:
    if request.voice_id.strip():
        return f"Voice `{request.voice_id}` is not available for model `{request.model}`."
    return (
        f"`voice` is empty and model `{request.model}` has no default voice: send a voice, "
        f"or map `default` in [voices.{instance}]."
    )


def _synthesize_all(
    engine: TtsEngine, job: SpeechJob, stop: threading.Event
) -> Iterator[list[PcmAudio]]:
    """Each piece's chunks, faded at its ends; runs in the engine's worker thread.

    A piece is one step of the worker, so ``stop`` (set when the stream closes: the client
    left) is checked between the engine's chunks, not only between pieces. Engines without
    native speed get FFmpeg's tempo filter on each whole piece.
    """
    for text in job.texts:
        chunks = _chunks_until(engine.synthesize(text, job.voice, job.options), stop)
        if stop.is_set():
            return
        if chunks and job.tempo is not None:
            joined = PcmAudio.concat(chunks, chunks[0].sample_rate)
            chunks = [job.tempo(joined, job.request.speed)]
        if chunks:
            yield _faded(chunks)


def _chunks_until(produced: Iterator[PcmAudio], stop: threading.Event) -> list[PcmAudio]:
    """The engine's non-empty chunks for one piece, or fewer once ``stop`` is set."""
    chunks: list[PcmAudio] = []
    try:
        for chunk in produced:
            if len(chunk):
                chunks.append(chunk)
            if stop.is_set():
                break
    finally:
        closer = getattr(produced, "close", None)
        if closer is not None:
            closer()  # the engine's own generator: nothing of it runs after this
    return chunks


def _faded(chunks: list[PcmAudio]) -> list[PcmAudio]:
    """A short fade in at the start and out at the end of a piece: joins without clicks."""
    chunks[0] = _ramped(chunks[0], rising=True)
    chunks[-1] = _ramped(chunks[-1], rising=False)
    return chunks


def _ramped(chunk: PcmAudio, *, rising: bool) -> PcmAudio:
    samples = chunk.samples.copy()
    n = min(max(1, round(FADE_SECONDS * chunk.sample_rate)), len(samples))
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    if rising:
        samples[:n] *= ramp
    else:
        samples[len(samples) - n :] *= ramp[::-1]
    return PcmAudio(samples, chunk.sample_rate)


def _seconds(piece: list[PcmAudio]) -> float:
    return sum(chunk.duration for chunk in piece)


async def start(job: SpeechJob) -> tuple[EngineStream[list[PcmAudio]], list[PcmAudio]]:
    """Queue for the engine and synthesize the first piece: its errors are still a 4xx/5xx."""
    stop = threading.Event()
    stream = await job.instance.open_stream(
        lambda engine: _synthesize_all(engine, job, stop), audio_out=_seconds
    )
    stream.on_close(stop.set)
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        await stream.aclose()
        raise InvalidRequestError(_unreadable(job), param="input") from None
    except BaseException:
        await stream.aclose()
        raise
    return stream, first


def _unreadable(job: SpeechJob) -> str:
    """Why an input with words came out silent: the voice cannot read its characters."""
    return (
        f"Model `{job.request.model}` produced no audio for `input`: the voice cannot read "
        "any of it (its characters are outside the voice's language, such as ① for an "
        "English voice)."
    )


async def check_voice(job: SpeechJob) -> None:
    """Ask the engine whether it can speak with the job's voice and options (no text yet)."""
    await job.instance.run(lambda engine: engine.check(job.voice, job.options))


def encoder_for(job: SpeechJob) -> AudioEncoder:
    """One streaming encoder for this response."""
    return job.transcoder.encoder(job.request.response_format, job.sample_rate)


async def audio_body(
    job: SpeechJob,
    stream: EngineStream[list[PcmAudio]],
    first: list[PcmAudio],
    encoder: AudioEncoder,
) -> AsyncIterator[bytes]:
    """Encoded bytes as pieces arrive (h2oGPT ``stream_strip=false``: a WAV per piece)."""
    first_audio = _FirstAudio(job, stream)
    try:
        async with contextlib.aclosing(_audio(job, stream, first, encoder)) as audio:
            async for data in audio:
                first_audio.ready()
                yield data
    except Exception:
        # the status line is gone: the client sees a truncated body; the log has why
        log.exception("speech failed mid-stream", model=job.request.model)


async def sse_body(
    job: SpeechJob,
    stream: EngineStream[list[PcmAudio]],
    first: list[PcmAudio],
    encoder: AudioEncoder,
) -> AsyncIterator[bytes]:
    """``speech.audio.delta`` per encoded piece, then ``speech.audio.done`` with usage."""
    seconds = 0.0
    first_audio = _FirstAudio(job, stream)
    try:
        async with contextlib.aclosing(_encoded(job, stream, first, encoder)) as encoded:
            async for data, duration in encoded:
                seconds += duration
                if data:
                    first_audio.ready()
                    yield encode_event(AudioDelta(audio=base64.b64encode(data).decode()))
        yield encode_event(AudioDone(usage=usage(job.request.input, seconds)))
    except OpenAIError as exc:
        yield sse_error_event(exc)
    except Exception:
        log.exception("speech failed mid-stream", model=job.request.model)
        yield sse_error_event(EngineError("The engine failed; the server log has the details."))
    finally:
        await stream.aclose()


class _FirstAudio:
    """Observes the time to first audio of a response, once: from asking for the engine."""

    def __init__(self, job: SpeechJob, stream: EngineStream[list[PcmAudio]]) -> None:
        self._job = job
        self._requested: float | None = stream.requested

    def ready(self) -> None:
        if self._requested is not None:
            instance = self._job.instance
            instance.telemetry.first_audio(instance.name, time.perf_counter() - self._requested)
            self._requested = None


async def encoded_pieces(job: SpeechJob) -> AsyncGenerator[bytes, None]:
    """Each piece encoded as it is made, for callers with events of their own (chat).

    Errors raise; the engine is released however the iteration ends.
    """
    stream, first = await start(job)
    encoder = encoder_for(job)
    async with contextlib.aclosing(_audio(job, stream, first, encoder)) as audio:
        async for data in audio:
            yield data


async def _audio(
    job: SpeechJob,
    stream: EngineStream[list[PcmAudio]],
    first: list[PcmAudio],
    encoder: AudioEncoder,
) -> AsyncGenerator[bytes, None]:
    """The non-empty encoded bytes; the engine stream is closed however iteration ends."""
    try:
        async with contextlib.aclosing(_encoded(job, stream, first, encoder)) as encoded:
            async for data, _ in encoded:
                if data:
                    yield data
    finally:
        await stream.aclose()


async def _encoded(
    job: SpeechJob,
    stream: EngineStream[list[PcmAudio]],
    first: list[PcmAudio],
    encoder: AudioEncoder,
) -> AsyncGenerator[tuple[bytes, float], None]:
    """Each piece's bytes and seconds of audio, then the encoder's tail (``b""`` possible)."""
    standalone = job.request.response_format == "wav" and not job.request.strips
    instance = job.instance
    async with contextlib.aclosing(_pieces(first, stream)) as pieces_ahead:
        async for piece in pieces_ahead:
            with instance.telemetry.encoding(instance.name):
                if standalone:
                    data = _standalone_wav(piece, job.sample_rate)
                else:
                    data = await _encode(encoder, piece)
            yield data, _seconds(piece)
    if not standalone:
        yield encoder.finish(), 0.0


async def _pieces(
    first: list[PcmAudio], stream: EngineStream[list[PcmAudio]]
) -> AsyncGenerator[list[PcmAudio], None]:
    """The pieces, with the next one already synthesizing while this one is encoded."""
    pending: asyncio.Future[list[PcmAudio] | None] = asyncio.ensure_future(anext(stream, None))
    try:
        yield first
        while (piece := await pending) is not None:
            pending = asyncio.ensure_future(anext(stream, None))
            yield piece
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending


async def speak(
    runtime: Runtime,
    model: str,
    voice: str,
    text: str,
    *,
    speed: float = 1.0,
    instructions: str | None = None,
) -> AsyncGenerator[PcmAudio, None]:
    """Raw audio, piece by piece, through the same checks and engine run as the HTTP API.

    For callers outside an HTTP handler (``RouteContext.speak``): the fields are validated as
    ``POST /v1/audio/speech`` validates its body, the voice is mapped by ``map_voice``, and
    the first piece (the first clause) is synthesized before this returns, so every error a
    request gets before its first byte is raised here. Each item is one piece, mono float32
    at the engine's own rate; the next piece synthesizes while the caller sends this one.
    """
    fields = {
        "model": model,
        "voice": voice,
        "input": text,
        "speed": speed,
        "instructions": instructions,
        "response_format": "pcm",
    }
    present = {key: value for key, value in fields.items() if value is not None}
    job = plan(runtime, convert_request(present, SpeechRequest))
    stream, first = await start(job)
    return _raw_pieces(stream, first)


async def _raw_pieces(
    stream: EngineStream[list[PcmAudio]], first: list[PcmAudio]
) -> AsyncGenerator[PcmAudio, None]:
    try:
        async with contextlib.aclosing(_pieces(first, stream)) as ahead:
            async for piece in ahead:
                yield PcmAudio.concat(piece, piece[0].sample_rate)
    finally:
        await stream.aclose()


async def _encode(encoder: AudioEncoder, piece: list[PcmAudio]) -> bytes:
    """Encode off the event loop: mp3 costs milliseconds per second of audio."""
    return await asyncio.to_thread(lambda: b"".join(encoder.encode(chunk) for chunk in piece))


def usage(text: str, seconds: float) -> SpeechUsage:
    """Input: characters (no TTS tokenizer to count with); output: audio at 50 per second."""
    output = math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)
    return SpeechUsage(
        input_tokens=len(text), output_tokens=output, total_tokens=len(text) + output
    )


def _standalone_wav(piece: list[PcmAudio], sample_rate: int) -> bytes:
    audio = PcmAudio.concat(piece, sample_rate)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(audio.to_pcm16())
    return buffer.getvalue()
