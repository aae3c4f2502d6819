"""Build the plugin manager: built-ins and third-party plugins alike come from entry points.

Selection, as datasette and llm do it: ``load`` (``[plugins] load`` or ``VOXGATE_LOAD_PLUGINS``)
is an allowlist of third-party plugins (empty: none); the built-ins shipped in the ``voxgate``
distribution load unless listed in ``disable`` (``[plugins] disable`` or
``VOXGATE_DISABLE_PLUGINS``), which applies to every plugin. ``check_pending`` runs last, so a
misspelled hook implementation fails loudly instead of never being called.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import pluggy
import structlog

from voxgate.plugins import ENTRY_POINT_GROUP, PROJECT_NAME, hookspecs
from voxgate.plugins.registry import PluginError, Registry

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

log = structlog.get_logger("voxgate.plugins")

BUILTIN_DISTRIBUTION = "voxgate"


@dataclass(frozen=True)
class PluginOrigin:
    """Where a plugin came from: its distribution and version (``None`` for in-process ones)."""

    distribution: str | None
    version: str | None


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus the distribution each plugin came from."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.origins: dict[str, PluginOrigin] = {}
        self.registry: Registry | None = None  # filled once by Hooks.registry

    def register_plugin(self, plugin: object, name: str, origin: PluginOrigin) -> None:
        """Register ``plugin`` under ``name``, recording where it came from."""
        if self.has_plugin(name):
            previous = self.origins.get(name)
            where = previous.distribution if previous else "in-process"
            msg = f"two plugins are named `{name}`: from {where} and from {origin.distribution}"
            raise PluginError(msg)
        registered = self.register(plugin, name=name)
        if registered is not None:
            self.origins[name] = origin


def split_names(value: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]``; ``None`` stays ``None`` and ``""`` is the empty list."""
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]


def plugin_selection(
    table: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None
) -> tuple[list[str] | None, list[str]]:
    """``(load, disable)`` from the ``[plugins]`` table, overridden by the environment."""
    env = os.environ if environ is None else environ
    table = table or {}
    raw_load = table.get("load")
    load = [str(name) for name in raw_load] if isinstance(raw_load, list) else None
    raw_disable = table.get("disable")
    disable = [str(name) for name in raw_disable] if isinstance(raw_disable, list) else []
    env_load = split_names(env.get("VOXGATE_LOAD_PLUGINS"))
    if env_load is not None:
        load = env_load
    env_disable = split_names(env.get("VOXGATE_DISABLE_PLUGINS"))
    if env_disable is not None:
        disable = env_disable
    return load, disable


def make_plugin_manager(
    *,
    load: Sequence[str] | None = None,
    disable: Sequence[str] = (),
    plugins: Sequence[object] = (),
    entry_points_enabled: bool = True,
    trace: bool | None = None,
) -> PluginManager:
    """A manager with the selected entry-point plugins and ``plugins`` registered in-process.

    Tests pass ``entry_points_enabled=False`` and an explicit ``plugins`` list, so nothing
    installed on the machine leaks in. ``trace`` (default: ``VOXGATE_TRACE_PLUGINS``) logs
    every hook call.
    """
    pm = PluginManager()
    for name in disable:
        pm.set_blocked(name)
    if entry_points_enabled:
        _load_entry_points(pm, load=load, disable=set(disable))
    for plugin in plugins:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        if name in disable:
            continue
        pm.register_plugin(plugin, name=name, origin=PluginOrigin(None, None))
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        msg = f"plugin `{pm.get_name(exc.plugin)}`: {exc}"
        raise PluginError(msg) from exc
    if trace if trace is not None else bool(os.environ.get("VOXGATE_TRACE_PLUGINS")):
        _trace_hook_calls(pm)
    return pm


def _load_entry_points(pm: PluginManager, *, load: Sequence[str] | None, disable: set[str]) -> None:
    allowed = None if load is None else set(load)
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        dist_name = ep.dist.name if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        if ep.name in disable or (dist_name is not None and dist_name in disable):
            continue
        builtin = dist_name == BUILTIN_DISTRIBUTION
        if not builtin and allowed is not None and not ({ep.name, dist_name} & allowed):
            continue
        if pm.has_plugin(ep.name) and pm.origins.get(ep.name) == PluginOrigin(dist_name, version):
            continue  # the same distribution seen twice on sys.path
        try:
            plugin = ep.load()
        except Exception as exc:
            msg = f"plugin `{ep.name}` from {dist_name} failed to import: {exc}"
            raise PluginError(msg) from exc
        pm.register_plugin(plugin, name=ep.name, origin=PluginOrigin(dist_name, version))


def _trace_hook_calls(pm: PluginManager) -> None:
    def before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        log.info(
            "hook call", hook=hook_name, plugins=[i.plugin_name for i in impls], args=sorted(kwargs)
        )

    def after(
        outcome: pluggy.Result[Any],
        hook_name: str,
        _impls: Sequence[pluggy.HookImpl],
        _kwargs: Mapping[str, Any],
    ) -> None:
        failed = outcome.exception is not None
        log.info("hook done", hook=hook_name, failed=failed)

    pm.add_hookcall_monitoring(before, after)
