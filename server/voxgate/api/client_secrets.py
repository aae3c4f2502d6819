"""``POST /v1/realtime/client_secrets``: mint a short-lived secret a browser may connect with.

As ``client.realtime.client_secrets.create(expires_after=..., session=...)`` sends it. The
session configuration is checked now (shape, models, voice), so a secret never opens a
session that fails at its first event.
"""

from __future__ import annotations

from typing import Any

from litestar import post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from voxgate.errors import InvalidRequestError
from voxgate.runtime import Runtime
from voxgate.services.realtime import client_secrets
from voxgate.services.realtime import config as session_config
from voxgate.services.realtime.session import check_config

DEFAULT_MODEL = "gpt-realtime"


@post("/v1/realtime/client_secrets", status_code=200)
async def create_client_secret(
    runtime: NamedDependency[Runtime], data: JSONBody[dict[str, Any]]
) -> dict[str, Any]:
    """``{value: "ek_…", expires_at, session}``; the session as it will start."""
    ttl = client_secrets.ttl_seconds(data.get("expires_after"))
    session = data.get("session") or {"type": "realtime"}
    if not isinstance(session, dict):
        raise InvalidRequestError("`session` must be an object.", param="session")
    kind = session.get("type", "realtime")
    if kind not in ("realtime", "transcription"):
        raise InvalidRequestError(
            "`session.type` must be `realtime` or `transcription`.", param="session.type"
        )
    model = session.get("model") if kind == "realtime" else None
    config = session_config.initial(kind, model if isinstance(model, str) else DEFAULT_MODEL)
    config = session_config.apply_update(config, session)
    await check_config(runtime, config)
    value, secret = await client_secrets.store_of(runtime).mint({**session, "type": kind}, ttl)
    shown = session_config.render(config, beta=False) | {"expires_at": secret.expires_at}
    return {"value": value, "expires_at": secret.expires_at, "session": shown}
