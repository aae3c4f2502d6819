"""``POST /v1/audio/speech``: validate everything, then stream the audio as it is made."""

from __future__ import annotations

from litestar import post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from voxgate.api.streaming import ClosingStream
from voxgate.runtime import Runtime
from voxgate.services import speech
from voxgate.services.voice_hints import with_hinted_voice
from voxgate.wire.speech import SpeechRequest


@post("/v1/audio/speech", status_code=200)
async def create_speech(
    runtime: NamedDependency[Runtime], data: JSONBody[SpeechRequest]
) -> ClosingStream:
    """Text to audio in any of OpenAI's six formats, raw bytes or SSE."""
    data = await with_hinted_voice(runtime, data)
    job = speech.plan(runtime, data)
    encoder = speech.encoder_for(job)
    stream, first = await speech.start(job)
    if data.stream_format == "sse":
        body = speech.sse_body(job, stream, first, encoder)
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    else:
        body = speech.audio_body(job, stream, first, encoder)
        headers = {}
    return ClosingStream(body, media_type=job.media_type, headers=headers)
