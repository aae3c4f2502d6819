"""State kind ``memory``: everything in this process, as a single server needs it.

In the core (the built-in ``state`` plugin registers it) because it is also what a runtime
uses when no state kind is installed at all: the behaviour of a single server.

Nothing to install and nothing to reach, so it never becomes unavailable; but nothing is
shared either, so with several replicas use ``redis``. Each namespace is bounded: past
``max_entries`` the least recently used entries go first, and entries expire on their TTL.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Annotated, ClassVar

import msgspec

from voxgate.schema import ConfigBase
from voxgate.state import StateStore, check_key, check_name

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class MemoryConfig(ConfigBase):
    """Options of the ``memory`` state kind (keys of ``[state]`` beside ``url``)."""

    max_entries: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            description=(
                "Entries kept per namespace (chat reply ids, cached transcripts…); the least "
                "recently used go first."
            ),
        ),
    ] = 4096


class MemoryStore(StateStore[MemoryConfig]):
    """One process, nothing to install, nothing shared: the default, for a single server.

    A dict per namespace with LRU bounds and expiry; pub/sub through in-process queues.
    """

    kind = "memory"
    schemes: ClassVar[frozenset[str]] = frozenset({"memory"})
    shared: ClassVar[bool] = False

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._tables: dict[str, OrderedDict[str, tuple[bytes, float | None]]] = {}
        self._subscribers: dict[str, set[asyncio.Queue[bytes | None]]] = {}

    def _table(self, namespace: str) -> OrderedDict[str, tuple[bytes, float | None]]:
        return self._tables.setdefault(check_name("namespace", namespace), OrderedDict())

    async def get(self, namespace: str, key: str) -> bytes | None:
        table = self._table(namespace)
        entry = table.get(check_key(key))
        if entry is None:
            return None
        value, expires = entry
        if expires is not None and expires <= time.monotonic():
            del table[key]
            return None
        table.move_to_end(key)
        return value

    async def set(
        self, namespace: str, key: str, value: bytes, *, ttl: float | None = None
    ) -> None:
        table = self._table(namespace)
        table[check_key(key)] = (value, None if ttl is None else time.monotonic() + ttl)
        table.move_to_end(key)
        while len(table) > self.config.max_entries:
            table.popitem(last=False)

    async def delete(self, namespace: str, key: str) -> None:
        self._table(namespace).pop(check_key(key), None)

    async def compare_and_set(
        self, namespace: str, key: str, expected: bytes | None, value: bytes
    ) -> bool:
        # no await between the read and the write: atomic on the event loop
        if await self.get(namespace, key) != expected:
            return False
        await self.set(namespace, key, value)
        return True

    async def publish(self, channel: str, message: bytes) -> None:
        for queue in self._subscribers.get(check_name("channel", channel), ()):
            queue.put_nowait(message)

    async def subscribe(self, channel: str) -> AsyncIterator[bytes | None]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        queues = self._subscribers.setdefault(check_name("channel", channel), set())
        queues.add(queue)
        try:
            yield None
            while True:
                yield await queue.get()
        finally:
            queues.discard(queue)
