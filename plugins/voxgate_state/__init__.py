"""Built-in plugin ``state``: the two shared-state kinds, ``memory`` and ``redis``.

``[state] url`` picks one by its scheme: ``memory://`` (the default: one process, nothing to
install) or ``redis://``/``rediss://``/``unix://`` (any Redis-protocol server, Redis or
Valkey, shared by every replica that names it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voxgate import MemoryStore, hookimpl
from voxgate_state.redis_store import RedisConfig, RedisStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from voxgate import StateStore

__all__ = ["RedisConfig", "RedisStore", "register_state_stores"]


@hookimpl
def register_state_stores(register: Callable[[type[StateStore]], None]) -> None:
    """``memory`` and ``redis``."""
    register(MemoryStore)
    register(RedisStore)
