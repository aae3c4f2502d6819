"""The kinds plugins registered, with the plugin that registered each.

Registration goes through callbacks (``register(EngineClass)``) so duplicates fail at the
moment they happen, naming both plugins.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import msgspec

    from voxgate.engines.base import ChatProxy, Diarizer, SttEngine, Transcoder, TtsEngine
    from voxgate.models.sources import ModelSourceContext
    from voxgate.state import StateStore

Category = Literal[
    "stt",
    "tts",
    "diarize",
    "transcoder",
    "chat",
    "state",
    "state_scheme",
    "model_source",
    "settings",
]

CATEGORY_LABELS: dict[Category, str] = {
    "stt": "STT engine kind",
    "tts": "TTS engine kind",
    "diarize": "diarizer kind",
    "transcoder": "transcoder kind",
    "chat": "chat proxy kind",
    "state": "state store kind",
    "state_scheme": "state URL scheme",
    "model_source": "model source scheme",
    "settings": "settings table",
}


class PluginError(RuntimeError):
    """A plugin misbehaved at start-up: duplicate kind, wrong class, failing hook."""


@dataclass
class Registry:
    """Everything registered through the ``register_*`` hooks, keyed by kind (or scheme)."""

    stt: dict[str, type[SttEngine]] = field(default_factory=dict)
    tts: dict[str, type[TtsEngine]] = field(default_factory=dict)
    diarize: dict[str, type[Diarizer]] = field(default_factory=dict)
    transcoder: dict[str, type[Transcoder]] = field(default_factory=dict)
    chat: dict[str, type[ChatProxy]] = field(default_factory=dict)
    state: dict[str, type[StateStore]] = field(default_factory=dict)
    model_source: dict[str, Callable[[str, ModelSourceContext], Path]] = field(default_factory=dict)
    settings: dict[str, type[msgspec.Struct]] = field(default_factory=dict)
    owners: dict[tuple[Category, str], str] = field(default_factory=dict)

    def claim(self, category: Category, key: str, owner: str) -> None:
        """Record ``owner`` for ``key``; a second owner is a start-up error naming both."""
        previous = self.owners.get((category, key))
        if previous is not None:
            label = CATEGORY_LABELS[category]
            msg = f"{label} `{key}` is registered twice: by plugin `{previous}` and by `{owner}`"
            raise PluginError(msg)
        self.owners[(category, key)] = owner

    def state_kind(self, scheme: str) -> type[StateStore] | None:
        """The state store kind serving URL ``scheme`` (``redis``), if one is registered."""
        for cls in self.state.values():
            if scheme in cls.schemes:
                return cls
        return None

    def kinds_of(self, owner: str) -> dict[str, list[str]]:
        """What ``owner`` registered, by category: the ``kinds`` column of ``voxgate plugins``."""
        found: dict[str, list[str]] = {}
        for (category, key), who in self.owners.items():
            if who == owner and category != "state_scheme":
                found.setdefault(category, []).append(key)
        return {category: sorted(keys) for category, keys in sorted(found.items())}


# The compute methods the core drives step by step in an instance's worker thread: each must
# be a generator function, so calling it does no work and every step can be stopped.
GENERATOR_METHODS: dict[Category, str] = {"stt": "transcribe", "tts": "synthesize"}


def check_component(cls: object, base: type, category: Category, owner: str) -> str:
    """Validate a registered class and return its kind, with an error that names the plugin."""
    if not isinstance(cls, type) or not issubclass(cls, base):
        msg = f"plugin `{owner}` registered {cls!r} as a {CATEGORY_LABELS[category]}; "
        msg += f"it must be a subclass of voxgate.{base.__name__}"
        raise PluginError(msg)
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not kind:
        msg = f"plugin `{owner}`: {cls.__name__} has no `kind` class attribute"
        raise PluginError(msg)
    method = GENERATOR_METHODS.get(category)
    if method is not None and not inspect.isgeneratorfunction(getattr(cls, method, None)):
        msg = (
            f"plugin `{owner}`: {cls.__name__}.{method} must be a generator function "
            "(it `yield`s its results): voxgate runs each step in the engine's worker thread, "
            "and a plain function would do all its work at once"
        )
        raise PluginError(msg)
    return kind
