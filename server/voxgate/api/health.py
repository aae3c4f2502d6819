"""``GET /health`` (liveness, always public) and ``GET /ready`` (engines loaded, not draining)."""

from __future__ import annotations

from typing import Any

from litestar import HttpMethod, MediaType, Response, route
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from voxgate.runtime import Runtime

# HEAD too: probes and uptime monitors that only look at the status ask that way
PROBE_METHODS = [HttpMethod.GET, HttpMethod.HEAD]


@route("/health", http_method=PROBE_METHODS, sync_to_thread=False, media_type=MediaType.JSON)
def health() -> dict[str, str]:
    """The process is up and answering."""
    return {"status": "ok"}


@route("/ready", http_method=PROBE_METHODS, sync_to_thread=False, media_type=MediaType.JSON)
def ready(runtime: NamedDependency[Runtime]) -> Response[dict[str, Any]]:
    """200 once every ``preload`` engine has loaded; 503 with the reasons until then.

    503 ``draining`` from the moment a shutdown starts, so load balancers stop sending.
    An unreachable shared state store is 200 ``degraded`` with the reason: every replica
    shares that store, so taking them all out of rotation would also stop the requests that
    do not need it (those that do answer 503 themselves).
    """
    if runtime.drain.draining:
        return Response(
            {"status": "draining", "reasons": ["the server is shutting down"]},
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
        )
    reasons = runtime.pool.readiness()
    if reasons:
        return Response(
            {"status": "not_ready", "reasons": reasons},
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "1"},
        )
    problem = runtime.state_store.problem
    if problem is not None:
        return Response(
            {"status": "degraded", "reasons": [f"shared state: {problem}"]},
            status_code=HTTP_200_OK,
        )
    return Response({"status": "ready"}, status_code=HTTP_200_OK)
