"""Admission of WebSocket sessions: at most ``server.max_websockets`` open at once.

Each session holds buffers, a VAD and tasks for as long as its socket lives, so the number
open is bounded like every other resource; a client past the limit is refused at the
handshake (503, or close code 1013 "try again later"), before anything is allocated.
"""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, cast

from voxgate.errors import ServiceUnavailableError
from voxgate.middleware import WS_KEY_PROTOCOL_PREFIX, reject_websocket

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from litestar import WebSocket
    from litestar.types import WebSocketReceiveMessage

    from voxgate.runtime import Runtime

TRY_AGAIN_LATER = 1013
SERVICE_RESTART = 1012
NORMAL = 1000
IDLE = "idle"  # the close reason of a session whose client sent nothing for too long
_OPEN = "websockets_open"


@asynccontextmanager
async def admitted(
    socket: WebSocket[Any, Any, Any], runtime: Runtime, kind: Literal["realtime", "live"]
) -> AsyncIterator[bool]:
    """True while this socket holds one of the slots; False (and refused) when none is free.

    ``kind`` labels the session in the metrics (``voxgate_websocket_sessions``).
    """
    limit = runtime.config.server.max_websockets
    if runtime.drain.draining:
        await reject_websocket(
            socket.scope, socket.send, runtime.drain.error(), close_code=SERVICE_RESTART
        )
        yield False
        return
    if runtime.state.get(_OPEN, 0) >= limit:
        error = ServiceUnavailableError(
            f"This server holds {limit} WebSocket sessions at once (server.max_websockets); "
            "try again later.",
            headers={"Retry-After": "5"},
        )
        await reject_websocket(socket.scope, socket.send, error, close_code=TRY_AGAIN_LATER)
        yield False
        return
    runtime.state[_OPEN] = runtime.state.get(_OPEN, 0) + 1
    try:
        with runtime.telemetry.websocket(kind), runtime.drain.socket():
            yield True
    except asyncio.CancelledError:
        if not runtime.drain.closing_sockets:
            raise
        # The shutdown drain ended this session: tell the client to reconnect elsewhere.
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        await close_quietly(socket, SERVICE_RESTART, "the server is restarting")
    finally:
        runtime.state[_OPEN] -= 1


async def receive_within(
    socket: WebSocket[Any, Any, Any], seconds: float
) -> WebSocketReceiveMessage | None:
    """The client's next ASGI message; None when it sent nothing for ``seconds`` (idle)."""
    try:
        async with asyncio.timeout(seconds):
            return cast("WebSocketReceiveMessage", await socket.receive())
    except TimeoutError:
        return None


async def close_quietly(socket: WebSocket[Any, Any, Any], code: int, reason: str) -> None:
    """Close the socket if it is still open (the client may already have gone)."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1):
            await socket.close(code=code, reason=reason)


def accepted_subprotocol(
    socket: WebSocket[Any, Any, Any], preferred: str | None = None
) -> str | None:
    """The subprotocol to echo: a browser aborts when it offered some and none comes back.

    ``preferred`` when offered, else the first one that is not a key (never echo a key
    when anything else was offered), else the key protocol the client sent itself.
    """
    offered = [str(p) for p in socket.scope.get("subprotocols") or ()]
    if not offered:
        return None
    if preferred in offered:
        return preferred
    plain = [p for p in offered if not p.startswith(WS_KEY_PROTOCOL_PREFIX)]
    return plain[0] if plain else offered[0]


def reserve(runtime: Runtime) -> bool:
    """Take a session slot outside a WebSocket (a WebRTC call); False when none is free."""
    if runtime.state.get(_OPEN, 0) >= runtime.config.server.max_websockets:
        return False
    runtime.state[_OPEN] = runtime.state.get(_OPEN, 0) + 1
    return True


def release(runtime: Runtime) -> None:
    """Give back a slot taken by ``reserve``."""
    runtime.state[_OPEN] -= 1
