"""Shared state: the one small async interface every cross-request cache goes through.

A replica that remembers something another replica must see (the live voice mapping, chat
reply audio ids, the input-audio transcript cache) keeps it in the app's ``StateStore``, never
in a dict of its own. The store is a plugin kind (``register_state_stores``) chosen by the
scheme of ``[state] url``: ``memory://`` (one process, the default) or ``redis://`` (every
replica that names the same server shares it).

Values are bytes under a ``namespace`` and a ``key``; callers encode their values and hash
their secrets before they become keys. When the store cannot be reached, every call raises
``StateUnavailableError`` (503 with the OpenAI envelope) at once, the store says why in
``problem`` (``/ready`` shows it), and it reconnects on its own: a request either sees the
shared state or fails, so no replica silently keeps state the others do not have.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar

from voxgate.engines.base import Component, ConfigT_co
from voxgate.errors import ServiceUnavailableError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from voxgate.engines.base import ComponentContext

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_KEY_LENGTH = 512


class StateUnavailableError(ServiceUnavailableError):
    """503: the shared state store cannot be reached; requests that need it fail until it can."""

    default_code = "state_unavailable"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "The shared state store is unreachable; this request needs it. Retry shortly.",
            headers={"Retry-After": "1"},
        )


def check_name(kind: str, name: str) -> str:
    """``name`` if it is a valid namespace or channel (``voices``, ``chat.replies``)."""
    if not _NAME.match(name):
        msg = f"state {kind} {name!r} must match {_NAME.pattern}"
        raise ValueError(msg)
    return name


def check_key(key: str) -> str:
    """``key`` if it is usable: non-empty and at most ``MAX_KEY_LENGTH`` characters."""
    if not key or len(key) > MAX_KEY_LENGTH:
        msg = f"state keys are 1 to {MAX_KEY_LENGTH} characters (hash longer ones)"
        raise ValueError(msg)
    return key


class StateStore(Component[ConfigT_co]):
    """Shared key/value state with expiry, compare-and-set, and publish/subscribe.

    A kind declares the URL ``schemes`` it serves and whether every replica naming the same
    URL sees the same state (``shared``). Every method may raise ``StateUnavailableError``.
    """

    schemes: ClassVar[frozenset[str]] = frozenset()
    shared: ClassVar[bool] = False
    check_name = staticmethod(check_name)  # for kinds: validate namespaces and channels
    check_key = staticmethod(check_key)  # and keys, the same way every kind does

    def __init__(self, config: ConfigT_co, context: ComponentContext, *, url: str) -> None:
        super().__init__(config, context)
        self.url = url

    async def start(self) -> None:
        """Connect; called once in the app's lifespan. An unreachable server is not fatal."""

    async def aclose(self) -> None:
        """Disconnect at shutdown."""

    @property
    def problem(self) -> str | None:
        """Why the store cannot be used right now (``None``: it can)."""
        return None

    @abstractmethod
    async def get(self, namespace: str, key: str) -> bytes | None:
        """The value under ``key``, ``None`` when there is none or it expired."""

    @abstractmethod
    async def set(
        self, namespace: str, key: str, value: bytes, *, ttl: float | None = None
    ) -> None:
        """Store ``value``; it expires after ``ttl`` seconds (``None``: never)."""

    @abstractmethod
    async def delete(self, namespace: str, key: str) -> None:
        """Remove ``key`` (nothing happens when it is not there)."""

    @abstractmethod
    async def compare_and_set(
        self, namespace: str, key: str, expected: bytes | None, value: bytes
    ) -> bool:
        """Store ``value`` only if the current value is ``expected`` (``None``: absent).

        ``False`` when another writer got there first: read again and retry. It is how
        replicas edit one value without losing each other's changes.
        """

    @abstractmethod
    async def publish(self, channel: str, message: bytes) -> None:
        """Send ``message`` to every current subscriber of ``channel``, on every replica."""

    @abstractmethod
    def subscribe(self, channel: str) -> AsyncIterator[bytes | None]:
        """Messages on ``channel``; ``None`` first and after every reconnection.

        ``None`` means "messages may have been missed": re-read what you follow. The iterator
        runs until it is closed, waiting through outages rather than ending.
        """
