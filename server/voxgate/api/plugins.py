"""``GET /-/plugins``: what ``voxgate plugins`` prints, as JSON."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.di import NamedDependency

from voxgate.runtime import Runtime


@get("/-/plugins", sync_to_thread=False)
def plugins_list(runtime: NamedDependency[Runtime]) -> list[dict[str, Any]]:
    """Loaded plugins with distribution, version, hooks and registered kinds."""
    return [info.to_dict() for info in runtime.hooks.plugin_infos()]
