"""``WS /v1/realtime``: the OpenAI Realtime API (GA, or beta with ``OpenAI-Beta: realtime=v1``).

The handler only moves frames: client frames go to the session, the session's events go to
the socket from one sender task. When either side closes, the session cancels its work.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from litestar import WebSocket, websocket
from litestar.di import NamedDependency

from voxgate.api.sockets import (
    IDLE,
    NORMAL,
    accepted_subprotocol,
    admitted,
    close_quietly,
    receive_within,
)
from voxgate.errors import OpenAIError
from voxgate.runtime import Runtime
from voxgate.services.realtime import client_secrets
from voxgate.services.realtime.session import RealtimeSession

log = structlog.get_logger("voxgate.realtime")

SEND_TIMEOUT_S = 30.0  # a client that takes longer to take one frame is not reading
SLOW_CLIENT = 1008  # policy violation: the server does not hold events without end
BROWSER_PROTOCOL = "realtime"
BETA_PROTOCOL = "openai-beta.realtime-v1"
DEFAULT_MODEL = "gpt-realtime"


@websocket("/v1/realtime")
async def realtime(socket: WebSocket[Any, Any, Any], runtime: NamedDependency[Runtime]) -> None:
    """One session per connection: transcription or conversation (``?model=…``)."""
    async with admitted(socket, runtime, "realtime") as admission:
        if admission:
            await _serve(socket, runtime)


async def _serve(socket: WebSocket[Any, Any, Any], runtime: Runtime) -> None:
    offered = list(socket.scope.get("subprotocols") or ())
    beta = "realtime=v1" in socket.headers.get("openai-beta", "") or BETA_PROTOCOL in offered
    transcription = socket.query_params.get("intent") == "transcription"
    model = socket.query_params.get("model") or DEFAULT_MODEL
    secret = client_secrets.presented(socket.scope)
    if secret is not None:  # the secret's session configuration wins over the query
        transcription = secret.kind == "transcription"
        model = secret.model or model
    await socket.accept(subprotocols=accepted_subprotocol(socket, BROWSER_PROTOCOL))
    session = RealtimeSession(
        runtime, kind="transcription" if transcription else "realtime", model=model, beta=beta
    )
    if secret is not None:
        session.preset(secret.session)
    session.start()
    if not transcription:
        warn_without_upstream(session, model)
    sender = asyncio.create_task(_send_events(socket, session))
    log.info("realtime session", session=session.config.id, kind=session.config.kind, beta=beta)
    idle = runtime.config.server.websocket_idle_timeout
    try:
        while True:
            message = await receive_within(socket, idle)
            if message is None:
                log.info("realtime session idle", session=session.config.id, seconds=idle)
                await close_quietly(socket, NORMAL, IDLE)
                break
            if message["type"] == "websocket.disconnect":
                break
            text, data = message.get("text"), message.get("bytes")
            frame = text if isinstance(text, str) else data if isinstance(data, bytes) else b""
            await session.receive(frame)
            if sender.done():
                break
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        await session.close()
        log.info("realtime session closed", session=session.config.id)


def warn_without_upstream(session: RealtimeSession, model: str) -> None:
    """A conversation with no LLM to talk to: say so now, not at the first response."""
    try:
        session.runtime.chat_proxy(model).check_ready()
    except OpenAIError as exc:
        session.send_error(exc)


async def _send_events(socket: WebSocket[Any, Any, Any], session: RealtimeSession) -> None:
    """Frames to the client, each within ``SEND_TIMEOUT_S``; ends the session when it won't read."""
    outbox = session.outbox
    while True:
        frame = await outbox.next()
        if frame is None:
            log.warning("realtime client does not read its events", session=session.config.id)
            await close_quietly(socket, SLOW_CLIENT, "the client did not read its events")
            return
        try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await socket.send_data(frame.decode(), mode="text")
        except TimeoutError:
            log.warning("realtime send timed out", session=session.config.id)
            await close_quietly(socket, SLOW_CLIENT, "the client did not read its events")
            return
