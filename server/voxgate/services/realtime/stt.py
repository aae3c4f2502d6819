"""One utterance of live audio to text, through the same STT pool as the HTTP endpoints."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from voxgate.services import transcription
from voxgate.wire.transcription import TranscriptionRequest

if TYPE_CHECKING:
    from voxgate.engines.audio import PcmAudio
    from voxgate.engines.base import Segment, SttCapabilities
    from voxgate.engines.pool import EngineStream
    from voxgate.runtime import Runtime
    from voxgate.services.diarization import DiarizedRun


async def transcribe(
    runtime: Runtime,
    model: str,
    audio: PcmAudio,
    *,
    language: str | None = None,
    prompt: str | None = None,
    words: bool = False,
) -> list[Segment]:
    """Every segment of ``audio`` (any rate) by the instance serving ``model``.

    Raises the HTTP endpoint's errors (404 for an unknown model, 400 for a bad language,
    429 when the engine's queue is full), so callers report them as their protocol does.
    """
    stream = await open_segments(
        runtime, model, audio, language=language, prompt=prompt, words=words
    )
    return await transcription.collect(stream)


async def open_segments(
    runtime: Runtime,
    model: str,
    audio: PcmAudio,
    *,
    language: str | None = None,
    prompt: str | None = None,
    words: bool = False,
    diarized: DiarizedRun | None = None,
) -> EngineStream[Segment]:
    """The segments of ``audio`` as they are decoded; the caller closes the stream.

    With ``diarized``, the diarizer hears the audio as the engine reads it.
    """
    instance = runtime.stt_engine(model)
    request = TranscriptionRequest(
        model=model,
        language=language,
        prompt=prompt,
        response_format="verbose_json" if words else "json",
        timestamp_granularities=["word"] if words else ["segment"],
    )
    job = transcription.plan(request, {})
    pcm = await asyncio.to_thread(audio.resample, instance.engine_class.sample_rate)
    return await transcription.open_segments(instance, job, pcm, diarized=diarized)


async def prepare(runtime: Runtime, model: str, *, language: str | None = None) -> SttCapabilities:
    """Check ``model`` and ``language`` and load the engine, before any audio is accepted.

    Live protocols validate up front, so a bad setting is refused at once instead of at the
    first utterance; loading here also keeps the model's load time out of that utterance.
    Returns what the loaded engine can do (ask for words only when it has them).
    """
    instance = runtime.stt_engine(model)
    request = TranscriptionRequest(model=model, language=language)
    job = transcription.plan(request, {})
    engine = await instance.ensure_loaded()
    capabilities = engine.loaded_capabilities()
    transcription.check_capabilities(job, capabilities)
    return capabilities
