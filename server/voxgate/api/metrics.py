"""``GET /metrics``: the app's Prometheus metrics (absent with ``[server] metrics = "off"``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency

from voxgate.errors import NotFoundError
from voxgate.runtime import Runtime


@get("/metrics", sync_to_thread=False, include_in_schema=False)
def metrics(request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]) -> Response[bytes]:
    """The text exposition format (OpenMetrics when the scraper's ``Accept`` asks for it)."""
    exported = runtime.telemetry.metrics
    if exported is None:  # the route is only registered with metrics on
        raise NotFoundError("Metrics are off on this server ([server] metrics).")
    body, content_type = exported.exposition(request.headers.get("accept", ""))
    # as a header, not a media type: Litestar would add a second charset to text/plain
    return Response(body, media_type=content_type, headers={"content-type": content_type})
