"""``GET /-/plugins``: what ``voxgate plugins --json`` prints."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency

from voxgate.plugins.hooks import PluginInfo
from voxgate.runtime import Runtime


@get("/-/plugins", sync_to_thread=False)
def plugins_list(runtime: NamedDependency[Runtime]) -> list[PluginInfo]:
    """Loaded plugins with distribution, version, hooks and registered kinds."""
    return runtime.hooks.plugin_infos()
