"""Ephemeral client secrets (``ek_…``): what a backend mints so a browser can open a session.

A secret authenticates Realtime connections only (the WebSocket and WebRTC calls), opens
its sessions with the session configuration it was minted with, and serves any number of
sessions until it expires. Only a hash of each secret is kept, so the store (and a dump of
it) never holds a usable credential; the number alive at once is capped.

Records live in the server's shared state (``[state]``: one process's memory, or Redis
for several replicas), keyed by the hash and expiring with the secret, so a secret minted on
one replica opens sessions on every other. The cap counts the secrets this process minted.
"""

from __future__ import annotations

import hashlib
import heapq
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from voxgate.errors import InvalidRequestError, RateLimitError

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar.types import Scope

    from voxgate.runtime import Runtime
    from voxgate.state import StateStore

PREFIX = "ek_"
DEFAULT_TTL_SECONDS = 600  # OpenAI's default: 10 minutes
MIN_TTL_SECONDS = 10
MAX_TTL_SECONDS = 7200  # OpenAI's limit: 2 hours
LIMIT = 1000  # secrets this process minted alive at once (the memory store keeps 4096)
SCOPE_KEY = "client_secret"  # where the auth middleware leaves the resolved secret
_STATE_KEY = "client_secrets"
NAMESPACE = "realtime.client_secrets"


@dataclass(frozen=True)
class ClientSecret:
    """What a secret grants: its session configuration (request shape), until ``expires_at``."""

    expires_at: int
    session: dict[str, Any]

    @property
    def kind(self) -> Literal["realtime", "transcription"]:
        """The kind of session it opens."""
        return "transcription" if self.session.get("type") == "transcription" else "realtime"

    @property
    def model(self) -> str | None:
        """The conversation model it names, if any."""
        model = self.session.get("model")
        return model if isinstance(model, str) and model else None


class ClientSecretStore:
    """Hashed secrets in the shared state, each expiring with its secret."""

    def __init__(
        self, state: StateStore, limit: int = LIMIT, clock: Callable[[], float] = time.time
    ) -> None:
        self.limit = limit
        self._state = state
        self._clock = clock
        self._expiries: list[float] = []  # heap of the secrets this process minted

    async def mint(self, session: dict[str, Any], ttl_seconds: int) -> tuple[str, ClientSecret]:
        """A new secret for ``session``, valid ``ttl_seconds``; 429 when too many are alive."""
        self._forget_expired()
        if len(self._expiries) >= self.limit:
            raise RateLimitError(
                f"This server holds {self.limit} live client secrets; try again when some "
                "have expired.",
                retry_after=MIN_TTL_SECONDS,
            )
        value = PREFIX + secrets.token_urlsafe(32)
        record = ClientSecret(expires_at=int(self._clock()) + ttl_seconds, session=session)
        data = msgspec.json.encode({"expires_at": record.expires_at, "session": session})
        await self._state.set(NAMESPACE, _digest(value), data, ttl=ttl_seconds)
        heapq.heappush(self._expiries, record.expires_at)
        return value, record

    async def resolve(self, value: str) -> ClientSecret | None:
        """The live secret ``value`` names; None when unknown or expired."""
        data = await self._state.get(NAMESPACE, _digest(value))
        if data is None:
            return None
        try:
            raw = msgspec.json.decode(data)
            record = ClientSecret(expires_at=int(raw["expires_at"]), session=dict(raw["session"]))
        except (msgspec.DecodeError, KeyError, TypeError, ValueError):
            return None  # not a record this code wrote: treat as unknown
        if record.expires_at <= self._clock():
            return None
        return record

    def alive(self) -> int:
        """Secrets minted by this process that have not expired (what the cap counts)."""
        self._forget_expired()
        return len(self._expiries)

    def _forget_expired(self) -> None:
        now = self._clock()
        while self._expiries and self._expiries[0] <= now:
            heapq.heappop(self._expiries)


def _digest(value: str) -> str:
    # The secrets are 256-bit random: a plain hash is enough (no salt or stretching needed).
    return hashlib.sha256(value.encode()).hexdigest()


def store_of(runtime: Runtime) -> ClientSecretStore:
    """The app's store (one per runtime)."""
    store = runtime.state.get(_STATE_KEY)
    if not isinstance(store, ClientSecretStore):
        store = runtime.state[_STATE_KEY] = ClientSecretStore(runtime.state_store)
    return store


def presented(scope: Scope) -> ClientSecret | None:
    """The client secret this connection authenticated with (set by the auth middleware)."""
    secret = (scope.get("state") or {}).get(SCOPE_KEY)
    return secret if isinstance(secret, ClientSecret) else None


def ttl_seconds(expires_after: Any) -> int:
    """``expires_after: {anchor: "created_at", seconds}``, checked; OpenAI's default if absent."""
    if expires_after is None:
        return DEFAULT_TTL_SECONDS
    if not isinstance(expires_after, dict):
        raise InvalidRequestError("`expires_after` must be an object.", param="expires_after")
    anchor = expires_after.get("anchor", "created_at")
    if anchor != "created_at":
        raise InvalidRequestError(
            "`expires_after.anchor` must be `created_at`.", param="expires_after.anchor"
        )
    seconds = expires_after.get("seconds", DEFAULT_TTL_SECONDS)
    valid = isinstance(seconds, int) and not isinstance(seconds, bool)
    if not valid or not MIN_TTL_SECONDS <= seconds <= MAX_TTL_SECONDS:
        raise InvalidRequestError(
            f"`expires_after.seconds` must be an integer from {MIN_TTL_SECONDS} to "
            f"{MAX_TTL_SECONDS}.",
            param="expires_after.seconds",
        )
    return int(seconds)
