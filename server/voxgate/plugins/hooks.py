"""The typed facade over ``pm.hook``: the only module that calls hooks.

pluggy's ``pm.hook`` is untyped; every caller in voxgate goes through ``Hooks`` instead, which
gives each hook a typed method, attributes registrations and failures to the plugin that made
them, and validates what plugins hand back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from voxgate.engines.base import (
    ChatProxy,
    Diarizer,
    SttEngine,
    Transcoder,
    TtsEngine,
    VoiceChoice,
)
from voxgate.plugins.registry import Category, PluginError, Registry, check_component
from voxgate.schema import ConfigProblem
from voxgate.state import StateStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar.plugins import InitPluginProtocol

    from voxgate.config import ServerConfig, Task
    from voxgate.plugins.manager import PluginManager


class PluginInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One loaded plugin: a row of ``voxgate plugins`` (``--json``) and of ``GET /-/plugins``.

    ``distribution`` and ``version`` are ``None`` for a plugin registered in-process (tests);
    ``hooks`` are the hooks it implements and ``kinds`` what it registered, by category
    (``{"tts": ["example"]}``). Plugin tests get it from ``voxgate.testing.installed_plugins``.
    """

    name: str
    distribution: str | None
    version: str | None
    hooks: list[str]
    kinds: dict[str, list[str]] = msgspec.field(default_factory=dict)


_COMPONENT_HOOKS: tuple[tuple[str, Category, type], ...] = (
    ("register_stt_engines", "stt", SttEngine),
    ("register_tts_engines", "tts", TtsEngine),
    ("register_diarizers", "diarize", Diarizer),
    ("register_transcoders", "transcoder", Transcoder),
    ("register_chat_proxies", "chat", ChatProxy),
    ("register_state_stores", "state", StateStore),
)


class Hooks:
    """Typed access to every hook, plus the registry the ``register_*`` hooks fill."""

    def __init__(self, pm: PluginManager) -> None:
        self.pm = pm

    # -- one-time hooks ---------------------------------------------------------------------

    @property
    def registry(self) -> Registry:
        """Kinds, schemes and settings tables, collected once per plugin manager.

        Kept on the manager, so every facade over it (the CLI's, the app's) shares one
        collection and the ``register_*`` hooks really are called once.
        """
        if self.pm.registry is None:
            self.pm.registry = self._collect_registry()
        return self.pm.registry

    def _collect_registry(self) -> Registry:
        registry = Registry()
        for hook_name, category, base in _COMPONENT_HOOKS:
            table: dict[str, Any] = getattr(registry, category)

            def register_component(
                owner: str,
                cls: object,
                *,
                _table: dict[str, Any] = table,
                _c: Category = category,
                _base: type = base,
            ) -> None:
                kind = check_component(cls, _base, _c, owner)
                registry.claim(_c, kind, owner)
                if _c == "state":
                    for scheme in sorted(getattr(cls, "schemes", ())):
                        registry.claim("state_scheme", scheme, owner)
                _table[kind] = cls

            self._call_each(hook_name, "register", register_component)

        def register_source(owner: str, scheme: str, resolver: object) -> None:
            if not callable(resolver):
                msg = f"plugin `{owner}` registered a non-callable resolver for `{scheme}:`"
                raise PluginError(msg)
            registry.claim("model_source", scheme, owner)
            registry.model_source[scheme] = resolver

        self._call_each("register_model_sources", "register", register_source)

        def register_table(owner: str, name: str, struct: object) -> None:
            if not (isinstance(struct, type) and issubclass(struct, msgspec.Struct)):
                msg = (
                    f"plugin `{owner}` claimed table [{name}] with {struct!r}, not a msgspec.Struct"
                )
                raise PluginError(msg)
            registry.claim("settings", name, owner)
            registry.settings[name] = struct

        self._call_each("register_settings", "register", register_table)
        return registry

    def _call_each(self, hook_name: str, arg: str, register: Callable[..., None]) -> None:
        """Call each implementation with a ``register`` bound to its plugin's name.

        Each call goes through pluggy (argument checks, tracing) on a caller narrowed to one
        plugin, so every registration and every failure is attributed to its plugin.
        """
        caller = getattr(self.pm.hook, hook_name)
        plugins = [impl.plugin for impl in caller.get_hookimpls()]
        for impl in reversed(caller.get_hookimpls()):
            owner = impl.plugin_name

            def bound(*args: Any, _owner: str = owner) -> None:
                register(_owner, *args)

            others = [plugin for plugin in plugins if plugin is not impl.plugin]
            single = self.pm.subset_hook_caller(hook_name, remove_plugins=others)
            try:
                single(**{arg: bound})
            except PluginError:
                raise
            except Exception as exc:
                msg = f"plugin `{owner}` failed in {hook_name}: {exc!r}"
                raise PluginError(msg) from exc

    def check_config(self, config: ServerConfig) -> list[ConfigProblem]:
        """Every plugin's problems with the finished configuration."""
        problems: list[ConfigProblem] = []
        try:
            results = self.pm.hook.check_config(config=config)
        except Exception as exc:
            msg = f"a plugin failed in check_config: {exc!r}"
            raise PluginError(msg) from exc
        for result in results:
            for problem in result or ():
                if not isinstance(problem, ConfigProblem):
                    problem = ConfigProblem(path="", message=str(problem))  # noqa: PLW2901
                problems.append(problem)
        return problems

    def litestar_plugins(self, config: ServerConfig) -> list[InitPluginProtocol]:
        """Litestar plugins from every ``register_litestar_plugins`` implementation."""
        found: list[InitPluginProtocol] = []
        for result in self.pm.hook.register_litestar_plugins(config=config):
            found.extend(result or ())
        return found

    # -- per-request hooks -----------------------------------------------------------------

    def resolve_model(self, model: str, task: Task, config: ServerConfig) -> str | None:
        """The instance serving ``model`` for ``task``, or ``None``."""
        result = self.pm.hook.resolve_model(model=model, task=task, config=config)
        return result if isinstance(result, str) else None

    def map_voice(
        self, voice: str, model: str, engine: str, config: ServerConfig
    ) -> VoiceChoice | None:
        """The engine voice for a requested voice, or ``None``."""
        result = self.pm.hook.map_voice(voice=voice, model=model, engine=engine, config=config)
        return result if isinstance(result, VoiceChoice) else None

    # -- introspection ---------------------------------------------------------------------

    def plugin_infos(self) -> list[PluginInfo]:
        """Loaded plugins with distribution, version, implemented hooks and registered kinds."""
        registry = self.registry
        infos = []
        for name, plugin in sorted(self.pm.list_name_plugin()):
            if plugin is None:
                continue
            origin = self.pm.origins.get(name)
            hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or ())
            infos.append(
                PluginInfo(
                    name=name,
                    distribution=origin.distribution if origin else None,
                    version=origin.version if origin else None,
                    hooks=hooks,
                    kinds=registry.kinds_of(name),
                )
            )
        return infos
