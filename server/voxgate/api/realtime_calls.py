"""``POST /v1/realtime/calls``: a Realtime session over WebRTC; ``…/{call_id}/hangup`` ends it.

The offer comes either as a raw ``application/sdp`` body (the browser ``fetch`` of OpenAI's
WebRTC guide) or as the SDK's multipart form (``sdp`` and a JSON ``session``). The answer
is the SDP answer (``201``, ``Location`` naming the call). Calls take the same session slots
as Realtime WebSockets (``server.max_websockets``).
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from voxgate.api import sockets
from voxgate.api.multipart import read_multipart
from voxgate.api.realtime import warn_without_upstream
from voxgate.errors import InvalidRequestError, NotFoundError, ServiceUnavailableError
from voxgate.runtime import Runtime
from voxgate.services.realtime import client_secrets
from voxgate.services.realtime.session import RealtimeSession, check_config
from voxgate.services.realtime.webrtc import Call

DEFAULT_MODEL = "gpt-realtime"
MAX_SDP_BYTES = 64 * 1024  # offers are a few kB
_CALLS = "realtime_calls"


def calls_of(runtime: Runtime) -> dict[str, Call]:
    """The app's live calls, by id."""
    calls: dict[str, Call] = runtime.state.setdefault(_CALLS, {})
    return calls


@post("/v1/realtime/calls", status_code=201)
async def create_call(
    request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]
) -> Response[bytes]:
    """Answer a WebRTC offer with a session configured by the secret, the form or ``?model=``."""
    sdp, session_params = await _offer(request)
    secret = client_secrets.presented(request.scope)
    presets = [p for p in (secret.session if secret else None, session_params) if p]
    model = request.query_params.get("model") or DEFAULT_MODEL
    for preset in presets:
        if isinstance(preset.get("model"), str):
            model = preset["model"]
    if not sockets.reserve(runtime):
        raise ServiceUnavailableError(
            f"This server holds {runtime.config.server.max_websockets} Realtime sessions at once "
            "(server.max_websockets); try again later.",
            headers={"Retry-After": "5"},
        )
    calls = calls_of(runtime)
    counted = contextlib.ExitStack()  # the sessions gauge counts calls with the WebSockets
    counted.enter_context(runtime.telemetry.websocket("realtime"))

    def closed(call: Call) -> None:
        if calls.pop(call.id, None) is not None:
            sockets.release(runtime)
            counted.close()

    kind = secret.kind if secret else "realtime"
    session = RealtimeSession(runtime, kind=kind, model=model, beta=False)
    call = Call(session, closed)
    calls[call.id] = call
    try:
        for preset in presets:
            session.preset(preset)
        await check_config(runtime, session.config)
        answer = await call.answer(sdp)
        warn_without_upstream(session, session.config.model)
    except BaseException:
        await call.close()
        raise
    return Response(
        answer.encode(),
        status_code=201,
        media_type="application/sdp",
        headers={"Location": f"/v1/realtime/calls/{call.id}"},
    )


@post("/v1/realtime/calls/{call_id:str}/hangup", status_code=200)
async def hangup_call(call_id: FromPath[str], runtime: NamedDependency[Runtime]) -> Response[bytes]:
    """End a call: the peer connection closes and the session's work stops."""
    call = calls_of(runtime).get(call_id)
    if call is None:
        raise NotFoundError(f"No call with id `{call_id}`.", param="call_id")
    await call.close()
    return Response(b"", status_code=200)


async def close_all(runtime: Runtime) -> None:
    """At shutdown: hang up every call."""
    for call in list(calls_of(runtime).values()):
        await call.close()


async def _offer(request: Request[Any, Any, Any]) -> tuple[str, dict[str, Any] | None]:
    """The SDP offer and the optional session configuration, from either body shape."""
    media_type = request.content_type[0]
    if media_type == "multipart/form-data":
        fields = await read_multipart(request, file_fields=(), part_limit=8)
        sdp = _text_field(fields, "sdp")
        raw_session = _text_field(fields, "session", required=False)
        session = None
        if raw_session:
            try:
                session = msgspec.json.decode(raw_session)
            except msgspec.DecodeError:
                raise InvalidRequestError("`session` is not valid JSON.", param="session") from None
            if not isinstance(session, dict):
                raise InvalidRequestError("`session` must be an object.", param="session")
            _check_session(session)
        return _checked_sdp(sdp), session
    if media_type in ("application/sdp", "text/plain"):
        body = await request.body()
        try:
            return _checked_sdp(body.decode()), None
        except UnicodeDecodeError:
            raise InvalidRequestError("The SDP offer is not UTF-8.", param="sdp") from None
    raise InvalidRequestError(
        "Send the SDP offer as an `application/sdp` body, or as `multipart/form-data` with "
        "`sdp` and an optional JSON `session`.",
        param="sdp",
    )


def _text_field(fields: dict[str, list[Any]], name: str, *, required: bool = True) -> str:
    values = fields.get(name) or []
    if not values:
        if required:
            raise InvalidRequestError(f"`{name}` is required.", param=name)
        return ""
    value = values[0]
    if not isinstance(value, str):
        raise InvalidRequestError(f"`{name}` must be a text field.", param=name)
    return value


def _checked_sdp(sdp: str) -> str:
    if not sdp.strip():
        raise InvalidRequestError("The SDP offer is empty.", param="sdp", code="invalid_offer")
    if len(sdp) > MAX_SDP_BYTES:
        raise InvalidRequestError(
            "The SDP offer is larger than 64 KiB.", param="sdp", code="invalid_offer"
        )
    if not sdp.lstrip().startswith("v=0"):
        raise InvalidRequestError(
            "The SDP offer must start with `v=0`.", param="sdp", code="invalid_offer"
        )
    return sdp


def _check_session(session: dict[str, Any]) -> None:
    if session.get("type", "realtime") != "realtime":
        raise InvalidRequestError(
            "A call is a `realtime` session; transcription goes over the WebSocket.",
            param="session.type",
        )
