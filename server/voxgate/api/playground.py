"""``GET /``: the playground, a page to try the server from a browser (static files, no build).

The page and its files are public (they hold nothing); everything they call is under ``/v1``
and needs a key when keys are configured.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Response, get
from litestar.static_files import create_static_files_router

PLAYGROUND = Path(__file__).resolve().parents[1] / "playground"


@get("/", include_in_schema=False, sync_to_thread=False)
def playground_page() -> Response[bytes]:
    """The playground's page."""
    return Response((PLAYGROUND / "index.html").read_bytes(), media_type="text/html")


playground_files = create_static_files_router(
    path="/playground", directories=[PLAYGROUND], include_in_schema=False
)
