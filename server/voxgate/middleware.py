"""ASGI layers around the app: send timeout, request context, telemetry, drain, API-key auth.

The send timeout is the outermost layer: it sees the server's own ``send``, so it can close
the connection of a client that stopped reading. The request-context layer wraps the whole
Litestar app, so router 404/405s get a request id and an access line too; the telemetry
layer, inside it, is there only when metrics or traces are on; the drain layer refuses and
ends requests at shutdown, inside both, so its 503s are logged and counted. Auth is a
Litestar middleware, so it runs inside CORS (a 401 still carries CORS headers) and covers
HTTP and WebSocket routes under ``/v1`` (and the other ``PROTECTED_PREFIXES``).
"""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
import time
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs

import structlog
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware

from voxgate.errors import (
    CLIENT_GONE,
    AuthenticationError,
    OpenAIError,
    error_body,
    sse_error_event,
)
from voxgate.services.realtime.client_secrets import PREFIX as CLIENT_SECRET_PREFIX
from voxgate.services.realtime.client_secrets import SCOPE_KEY as CLIENT_SECRET_SCOPE_KEY
from voxgate.telemetry import WEBSOCKET_ACCEPTED, WEBSOCKET_REFUSED

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from voxgate.drain import Drain
    from voxgate.services.realtime.client_secrets import ClientSecretStore
    from voxgate.telemetry import Telemetry

access_log = structlog.get_logger("voxgate.access")

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
WS_KEY_PROTOCOL_PREFIX = "openai-insecure-api-key."
HTTP_413 = 413
# ``/api/``: routes of servers voxgate replaces, under their own paths (AllTalk's remap)
PROTECTED_PREFIXES = ("/v1", "/-/", "/docs", "/api/")
# Where an ``ek_…`` client secret is accepted: the Realtime connections, never the minting.
CLIENT_SECRET_PATHS = ("/v1/realtime",)
MINT_PATHS = frozenset({"/v1/realtime/client_secrets"})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


class SendTimeoutMiddleware:
    """Abandon an HTTP response whose client has not read for ``timeout`` seconds.

    A client that keeps its socket open but stops reading would hold the response, and the
    engine streaming it, for as long as the socket lives: the server's ``send`` waits for the
    socket to drain. Past the timeout the app sees an error from ``send``, which ends the
    response and frees its engine, and the connection is aborted (the server would otherwise
    wait for the buffered bytes to leave before closing it).
    """

    def __init__(self, app: ASGIApp, *, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time every send of one HTTP request; WebSockets pass through."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        stalled = False

        async def timed_send(message: Message) -> None:
            nonlocal stalled
            if stalled:
                raise ClientStalledError
            try:
                async with asyncio.timeout(self.timeout):
                    await send(message)
            except TimeoutError:
                stalled = True
                raise ClientStalledError from None

        try:
            await self.app(scope, receive, timed_send)
        except Exception:
            if not stalled:
                raise
        if stalled:
            access_log.warning(
                "client stopped reading; response abandoned",
                path=scope["path"],
                send_timeout=self.timeout,
            )
            await _abort_connection(send)


class ClientStalledError(Exception):
    """The client did not read the response within the send timeout."""


async def _abort_connection(send: Send) -> None:
    """Drop the connection at once when the server exposes its transport (uvicorn does).

    ``transport.close()`` would wait for the unread bytes to drain, which never happens.
    After the abort the server sees the connection lost, so it reports nothing more.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    abort = getattr(transport, "abort", None)
    if abort is not None:
        abort()
        await asyncio.sleep(0)  # let the server take the connection loss before we return


OPEN_WHILE_DRAINING = frozenset({"/health", "/ready", "/metrics"})


class DrainMiddleware:
    """The HTTP side of the shutdown drain (``voxgate.drain``).

    While draining, every request but the probes and metrics gets 503 with ``Retry-After``
    in the error envelope. Each request is tracked while it runs; one cancelled at the drain's
    deadline ends with that 503 if its response has not started, with an SSE error event if
    it is an event stream, and otherwise by closing the connection.
    """

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse, or run and track, one HTTP request; WebSockets pass through."""
        drain = self.drain
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        if drain.draining and scope["path"] not in OPEN_WHILE_DRAINING:
            await send_error(send, drain.error(), close=True)
            return
        started: list[bytes] = []  # the content type, once the response has started

        async def watched_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.append(_content_type(message))
            await send(message)

        with drain.tracking():
            try:
                await self.app(scope, receive, watched_send)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not drain.deadline_passed or task is None:
                    raise
                task.uncancel()
                await _end_cut_short(send, started, drain.error())


def _content_type(message: Message) -> bytes:
    headers = cast("Iterable[tuple[bytes, bytes]]", message.get("headers", ()))
    for key, value in headers:
        if key.lower() == b"content-type":
            return bytes(value).split(b";", 1)[0].strip().lower()
    return b""


async def _end_cut_short(send: Send, started: list[bytes], error: OpenAIError) -> None:
    """End a request cancelled by the drain: the error where the response can still carry it."""
    if not started:
        await send_error(send, error, close=True)
    elif started[0] == b"text/event-stream":
        await send(
            {"type": "http.response.body", "body": sse_error_event(error), "more_body": True}
        )
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    # otherwise the body cannot carry an error: the server closes the unfinished response


async def send_error(send: Send, error: OpenAIError, *, close: bool = False) -> None:
    """A whole error response in OpenAI's envelope, straight to ASGI (outside Litestar)."""
    body = error_body(error.detail())
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in error.headers.items()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class RequestContextMiddleware:
    """Request id (accepted from ``X-Request-Id`` or minted), one access line per request.

    Also drains the rest of an oversized upload after its 413 went out (bounded), so clients
    that write the whole body before reading, like the OpenAI SDK, see the error instead of a
    reset connection.
    """

    def __init__(self, app: ASGIApp, *, drain_limit: int) -> None:
        self.app = app
        self.drain_limit = drain_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one HTTP request or WebSocket (Litestar routes lifespan events elsewhere)."""
        incoming = _header(scope, REQUEST_ID_HEADER)
        if incoming is not None and _VALID_REQUEST_ID.match(incoming):
            request_id = incoming.decode()
        else:
            request_id = "req_" + secrets.token_hex(12)
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status: int | None = None
        sent_bytes = 0
        body_done = scope["type"] != ScopeType.HTTP

        async def tracking_receive() -> Any:
            nonlocal body_done
            message = await receive()
            last_chunk = message["type"] == "http.request" and not message.get("more_body", False)
            if message["type"] == "http.disconnect" and not body_done:
                scope["state"][CLIENT_GONE] = True  # mid-upload: errors.py answers 499, quietly
            if last_chunk or message["type"] == "http.disconnect":
                body_done = True
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent_bytes
            if message["type"] in {"http.response.start", "websocket.http.response.start"}:
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            elif message["type"] == "websocket.accept":
                status = 101
            elif message["type"] == "http.response.body":
                sent_bytes += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, tracking_receive, send_with_id)
        finally:
            if status == HTTP_413 and not body_done:
                await self._drain(tracking_receive)
            access_log.info(
                "request",
                method=scope.get("method", "WS"),
                path=scope["path"],  # never the query string: it may carry ?api_key=
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
                bytes_out=sent_bytes,
                client=(scope.get("client") or ("-",))[0],
            )

    async def _drain(self, receive: Callable[[], Awaitable[Any]]) -> None:
        drained = 0
        while drained <= self.drain_limit:
            message = await receive()
            if message["type"] != "http.request":
                return
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                return


class TelemetryMiddleware:
    """Each HTTP request and WebSocket inside its span, counted and timed by route template.

    The route is known once Litestar has routed the request (``scope["path_template"]``),
    so the labels are read as the request ends.
    """

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Observe one HTTP request or WebSocket."""
        with self.telemetry.request(scope) as observed:

            async def observed_send(message: Message) -> None:
                if message["type"] in {"http.response.start", "websocket.http.response.start"}:
                    observed.status = message["status"]
                elif message["type"] == "websocket.accept":
                    observed.status = WEBSOCKET_ACCEPTED
                elif message["type"] == "websocket.close" and observed.status is None:
                    observed.status = WEBSOCKET_REFUSED
                await send(message)

            await self.app(scope, receive, observed_send)


def bearer_token(scope: Scope) -> str | None:
    """The key from ``Authorization: Bearer <key>``."""
    raw = _header(scope, b"authorization")
    if raw is None:
        return None
    scheme, _, token = raw.decode("latin-1").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def websocket_keys(scope: Scope) -> Iterable[str]:
    """Keys a WebSocket client may present: header, ``?api_key=``, browser subprotocol."""
    token = bearer_token(scope)
    if token:
        yield token
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    yield from query.get("api_key", [])
    protocols = cast("Iterable[str]", scope.get("subprotocols") or ())
    for protocol in protocols:
        if protocol.startswith(WS_KEY_PROTOCOL_PREFIX):
            yield protocol.removeprefix(WS_KEY_PROTOCOL_PREFIX)


def key_matches(candidate: str, keys: frozenset[str]) -> bool:
    """Constant-time comparison against every configured key."""
    encoded = candidate.encode()
    return any(hmac.compare_digest(encoded, key.encode()) for key in keys)


class ApiKeyMiddleware(ASGIMiddleware):
    """401 ``invalid_api_key`` on protected paths without a valid key; open when no keys.

    ``also_protected`` adds exact paths (``/metrics`` with ``[server] metrics = "key"``).
    """

    def __init__(
        self,
        keys: frozenset[str],
        also_protected: Iterable[str] = (),
        client_secrets: ClientSecretStore | None = None,
    ) -> None:
        self.keys = keys
        self.also_protected = frozenset(also_protected)
        self.client_secrets = client_secrets

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        path = scope["path"]
        protected = path.startswith(PROTECTED_PREFIXES) or path in self.also_protected
        if scope["type"] == ScopeType.WEBSOCKET:
            presented = list(websocket_keys(scope))
        else:
            token = bearer_token(scope)
            presented = [token] if token else []
        if len(presented) == 1 and presented[0].startswith(CLIENT_SECRET_PREFIX):
            error = await self._client_secret(scope, presented[0], protected=protected)
            if error is None:
                await next_app(scope, receive, send)
            elif scope["type"] == ScopeType.WEBSOCKET:
                await reject_websocket(scope, send, error)
            else:
                raise error
            return
        if not self.keys or not protected:
            await next_app(scope, receive, send)
            return
        # One key per handshake: a client does not get to try a list of guesses at once.
        if len(presented) == 1 and key_matches(presented[0], self.keys):
            await next_app(scope, receive, send)
            return
        if len(presented) > 1:
            error = AuthenticationError(_MANY_KEYS_MESSAGE)
        else:
            error = AuthenticationError(
                "Incorrect API key provided." if presented else _MISSING_KEY_MESSAGE
            )
        if scope["type"] == ScopeType.WEBSOCKET:
            await reject_websocket(scope, send, error)
            return
        raise error

    async def _client_secret(
        self, scope: Scope, value: str, *, protected: bool
    ) -> OpenAIError | None:
        """An ``ek_…`` secret: valid on Realtime connections only; its grant goes in the scope.

        It is checked even when no keys are configured, since it carries the session's
        configuration; elsewhere it opens nothing keys would close.
        """
        if not scope["path"].startswith(CLIENT_SECRET_PATHS) or scope["path"] in MINT_PATHS:
            if not self.keys or not protected:
                return None
            return AuthenticationError(
                "Client secrets authenticate Realtime connections only (the WebSocket and "
                "WebRTC calls); use an API key here.",
            )
        try:
            store = self.client_secrets
            secret = await store.resolve(value) if store is not None else None
        except OpenAIError as exc:  # the shared state is down: 503, not "unknown secret"
            return exc
        if secret is None:
            return AuthenticationError("The client secret is unknown or has expired.")
        scope.setdefault("state", {})[CLIENT_SECRET_SCOPE_KEY] = secret
        return None


_MANY_KEYS_MESSAGE = (
    "Present one API key per connection: the Authorization header, one `api_key` query "
    "parameter or one `openai-insecure-api-key.` subprotocol."
)
_MISSING_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


async def reject_websocket(
    scope: Scope, send: Send, error: OpenAIError, close_code: int = 1008
) -> None:
    """Refuse the handshake with the error's HTTP status, or close with ``close_code``.

    The HTTP answer needs the server's ``websocket.http.response`` extension (uvicorn has it).
    """
    extensions: dict[str, Any] = scope.get("extensions") or {}
    if "websocket.http.response" in extensions:
        body = error_body(error.detail())
        await send(
            {
                "type": "websocket.http.response.start",
                "status": error.status_code,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *((k.lower().encode(), str(v).encode()) for k, v in error.headers.items()),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body, "more_body": False})
    else:
        await send({"type": "websocket.close", "code": close_code, "reason": error.message[:120]})
