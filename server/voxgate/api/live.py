"""``WS /v1/audio/transcriptions-realtime``: a15t's live transcription over a WebSocket.

The protocol lives in ``voxgate.services.realtime.live``; this handler only turns ASGI
events into frames for it and closes the socket the way the session says.
"""

from __future__ import annotations

import contextlib
from typing import Any

from litestar import WebSocket, websocket
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect

from voxgate.api.sockets import (
    IDLE,
    NORMAL,
    accepted_subprotocol,
    admitted,
    close_quietly,
    receive_within,
)
from voxgate.runtime import Runtime
from voxgate.services.realtime.live import Frame, LiveSession


@websocket("/v1/audio/transcriptions-realtime")
async def live_transcription(
    socket: WebSocket[Any, Any, Any], runtime: NamedDependency[Runtime]
) -> None:
    """Partial and final transcripts of streamed audio (auth is the middleware's job)."""
    async with admitted(socket, runtime, "live") as admission:
        if admission:
            await _serve(socket, runtime)


async def _serve(socket: WebSocket[Any, Any, Any], runtime: Runtime) -> None:
    await socket.accept(subprotocols=accepted_subprotocol(socket))

    idle = False

    async def receive() -> Frame:
        nonlocal idle
        event = await receive_within(socket, runtime.config.server.websocket_idle_timeout)
        if event is None:
            idle = True
            return None  # as if the client left: the session ends and frees its work
        if event["type"] != "websocket.receive":
            return None  # websocket.disconnect
        text = event.get("text")
        if text is not None:
            return str(text)
        return bytes(event.get("bytes") or b"")

    async def send(text: str) -> None:
        await socket.send_text(text)

    query = {key: str(value) for key, value in socket.query_params.items()}
    close = await LiveSession(runtime, query, send).run(receive)
    if idle:
        await close_quietly(socket, NORMAL, IDLE)
    elif close is not None:
        # The client may have gone while the session ended: nothing left to tell it.
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
            await socket.close(code=close.code, reason=close.reason)
