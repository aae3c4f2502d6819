"""The plugin system: hook specs, the plugin manager, the typed facade, the kind registry."""

import pluggy

PROJECT_NAME = "voxgate"
ENTRY_POINT_GROUP = "voxgate"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = ["ENTRY_POINT_GROUP", "PROJECT_NAME", "hookimpl", "hookspec"]
