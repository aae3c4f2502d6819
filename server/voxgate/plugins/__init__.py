"""The plugin system: hook specs, the plugin manager, the typed facade, the kind registry."""

import pluggy

PROJECT_NAME = "voxgate"
ENTRY_POINT_GROUP = "voxgate"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks the hook specifications in ``voxgate.plugins.hookspecs`` (core only)."""
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a plugin's hook implementations: ``@hookimpl`` (public as ``voxgate.hookimpl``).

Options as pluggy's: ``@hookimpl(trylast=True)`` for a default any other plugin overrides.
"""

__all__ = ["ENTRY_POINT_GROUP", "PROJECT_NAME", "hookimpl", "hookspec"]
