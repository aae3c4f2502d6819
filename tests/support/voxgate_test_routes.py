"""A test plugin adding ``/v1/test/*`` routes that exercise the pool, uploads and errors.

The core has no engine-backed endpoint of its own yet; these routes drive the same runtime,
pool and error handling the real endpoints will, through the public ``register_litestar_plugins``
hook. Contract tests load this module through a real entry point in a ``voxgate serve`` process.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import WebSocket, get, post, websocket
from litestar.config.app import AppConfig
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import JSONBody, MultipartBody
from litestar.plugins import InitPluginProtocol
from litestar.response import Stream

from voxgate import InvalidRequestError, SpeechOptions, TranscribeOptions, VoiceChoice, hookimpl
from voxgate.engines.base import AudioDecodeError
from voxgate.runtime import Runtime


class SpeechBody(msgspec.Struct):
    model: str
    input: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    speed: Annotated[float, msgspec.Meta(ge=0.25, le=4.0)] = 1.0


@post("/v1/test/speech", status_code=200)
async def speech(runtime: NamedDependency[Runtime], data: JSONBody[SpeechBody]) -> Stream:
    instance = runtime.tts_engine(data.model)
    options = SpeechOptions(speed=data.speed)
    chunks = await instance.open_stream(
        lambda engine: engine.synthesize(data.input, VoiceChoice(voice_id="tone"), options)
    )

    async def body() -> Any:
        async for chunk in chunks:
            yield chunk.to_pcm16()

    return Stream(body(), media_type="audio/pcm")


@post("/v1/test/transcribe", status_code=200)
async def transcribe(
    runtime: NamedDependency[Runtime],
    data: MultipartBody[dict[str, Any]],
) -> dict[str, Any]:
    upload = data.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidRequestError("file is required", param="file")
    instance = runtime.stt_engine(str(data.get("model", "")))
    assert runtime.transcoder is not None
    try:
        audio = runtime.transcoder.decode(await upload.read(), 16_000)
    except AudioDecodeError as exc:
        raise InvalidRequestError(str(exc), param="file") from exc
    segments = await instance.run(lambda e: list(e.transcribe(audio, TranscribeOptions())))
    return {"text": "".join(s.text for s in segments).strip(), "segments": len(segments)}


@get("/v1/test/boom")
async def boom() -> None:
    secret = "sk-test-secret-local"
    raise RuntimeError("kaboom " + secret[:0])


@websocket("/v1/test/ws")
async def echo_socket(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    await socket.send_text("hello")
    await socket.close()


class TestRoutes(InitPluginProtocol):
    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend([speech, transcribe, boom, echo_socket])
        return app_config


@hookimpl
def register_litestar_plugins(config: Any) -> list[InitPluginProtocol]:
    return [TestRoutes()]
