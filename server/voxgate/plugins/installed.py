"""Which plugins a server would load: entry-point discovery as ``voxgate serve`` does it.

One path for ``voxgate serve``, ``voxgate plugins`` and ``voxgate.testing.installed_plugins``:
the config file (``--config``, else ``VOXGATE_CONFIG``, else the embedded default) gives the
``[plugins]`` table, the environment overrides it, and the entry points of the ``voxgate``
group are loaded from that selection.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voxgate.config import read_toml
from voxgate.plugins.hooks import Hooks, PluginInfo
from voxgate.plugins.manager import make_plugin_manager, plugin_selection

if TYPE_CHECKING:
    from collections.abc import Mapping

    from voxgate.plugins.manager import PluginManager

CONFIG_ENV = "VOXGATE_CONFIG"


def config_path(value: str | os.PathLike[str] | None) -> Path | None:
    """The config file to read: ``value``, else ``VOXGATE_CONFIG``; ``None`` for the default."""
    chosen = value or os.environ.get(CONFIG_ENV)
    return Path(chosen) if chosen else None


def discover(raw: Mapping[str, Any]) -> PluginManager:
    """A manager holding the entry-point plugins that the raw config and the environment select.

    Only the ``[plugins]`` table is read, so the rest of the file may be invalid.
    """
    table = raw.get("plugins")
    load, disable = plugin_selection(table if isinstance(table, dict) else None)
    return make_plugin_manager(load=load, disable=disable)


def installed_plugins(config: str | os.PathLike[str] | None = None) -> dict[str, PluginInfo]:
    """The plugins ``voxgate serve`` would load, by name: real entry-point discovery.

    ``config`` is the file whose ``[plugins]`` table selects plugins (``voxgate plugins
    --config``); without one, ``VOXGATE_CONFIG`` or the embedded default, as ``voxgate serve``
    reads. ``VOXGATE_LOAD_PLUGINS`` and ``VOXGATE_DISABLE_PLUGINS`` apply. Raises
    ``ConfigError`` if the file cannot be read or is not TOML, and ``PluginError`` if a plugin
    fails to import or to register.
    """
    raw, _ = read_toml(config_path(config))
    return {info.name: info for info in Hooks(discover(raw)).plugin_infos()}
