"""``POST /v1/chat/completions``: audio in and out around an upstream LLM."""

from __future__ import annotations

from typing import Any

from litestar import Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from voxgate.api.streaming import ClosingStream
from voxgate.runtime import Runtime
from voxgate.services import chat_audio, chat_stream

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@post("/v1/chat/completions", status_code=200)
async def chat_completions(
    runtime: NamedDependency[Runtime], data: JSONBody[dict[str, Any]]
) -> Response[dict[str, Any]] | ClosingStream:
    """Transcribe input audio, ask the upstream, speak the reply when audio is asked for."""
    job = chat_audio.plan(runtime, data)
    await chat_audio.check_speech(job)
    body = await chat_audio.forwarded_body(runtime, job)
    if not job.stream:
        reply = await runtime.telemetry.upstream(job.proxy.complete(body))
        return Response(await chat_audio.add_audio(runtime, job, reply))
    chunks = runtime.telemetry.upstream_stream(job.proxy.stream(body))
    try:  # the upstream's errors are still a clean error response here
        first = await anext(chunks, None)
    except BaseException:
        await chat_audio.close_chunks(chunks)
        raise
    if job.speech is None:
        events = chat_stream.passthrough(first, chunks)
    else:
        events = chat_stream.with_audio(runtime, job.speech, first, chunks)
    return ClosingStream(events, media_type="text/event-stream", headers=SSE_HEADERS)
