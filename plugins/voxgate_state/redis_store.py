"""State kind ``redis``: any Redis-protocol server (Redis, Valkey), shared by every replica.

Built on the maintained async client, ``redis.asyncio``. Keys are ``<key_prefix><namespace>:
<key>``, with expiry set by the server (``SET … PX``). Compare-and-set is one Lua script, so
it is atomic on the server whatever the number of replicas.

Outages: a call that cannot reach the server marks the store down and starts one background
task that pings with exponential backoff (0.1 s doubling up to ``max_backoff``); while down,
every call raises ``StateUnavailableError`` at once instead of waiting on a dead socket, and
``problem`` says why. Subscriptions wait for the store to come back, resubscribe, and yield
``None`` so their readers re-read what they may have missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import msgspec
import structlog

from voxgate import ConfigBase, StateStore, StateUnavailableError, redact_url

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from redis.asyncio import Redis

log = structlog.get_logger("voxgate.state")

# KEYS[1]: the key; ARGV[1]: "1" if a value is expected, ARGV[2]: it, ARGV[3]: the new value
COMPARE_AND_SET = """
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
"""
FIRST_BACKOFF = 0.1


class RedisConfig(ConfigBase):
    """Options of the ``redis`` state kind (keys of ``[state]`` beside ``url``)."""

    key_prefix: Annotated[
        str,
        msgspec.Meta(
            description=(
                "Prefix of every key and channel, so several deployments can share one server."
            )
        ),
    ] = "voxgate:"
    password_env: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "Environment variable holding the server's password (or put it in "
                "VOXGATE_STATE_URL, never in the file)."
            )
        ),
    ] = None
    timeout: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description=(
                "Seconds to connect or to wait for an answer before the server counts as "
                "unreachable (requests that need it then get 503)."
            ),
        ),
    ] = 2.0
    max_backoff: Annotated[
        float,
        msgspec.Meta(gt=0, description="Longest wait between reconnection attempts, in seconds."),
    ] = 5.0


class RedisStore(StateStore[RedisConfig]):
    """Any Redis-protocol server (Redis, Valkey), shared by every replica that names it.

    One connection pool per app; down/up tracked so outages fail fast and heal alone.
    """

    kind = "redis"
    schemes: ClassVar[frozenset[str]] = frozenset({"redis", "rediss", "unix"})
    shared: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: Redis | None = None
        self._problem: str | None = "not connected yet"
        self._up = asyncio.Event()
        self._reconnect: asyncio.Task[None] | None = None

    @property
    def problem(self) -> str | None:
        return self._problem

    async def start(self) -> None:
        from redis.asyncio import Redis  # noqa: PLC0415 - imported where it is used
        from redis.asyncio.retry import Retry  # noqa: PLC0415
        from redis.backoff import NoBackoff  # noqa: PLC0415

        password = os.environ.get(self.config.password_env) if self.config.password_env else None
        extra: dict[str, Any] = {"password": password} if password else {}
        self._client = Redis.from_url(
            self.url,
            socket_timeout=self.config.timeout,
            socket_connect_timeout=self.config.timeout,
            retry=Retry(NoBackoff(), 0),  # our own reconnect loop decides when to try again
            **extra,
        )
        try:
            await self._client.ping()
        except Exception as exc:  # noqa: BLE001 - any failure to reach it is "down"
            self._down(exc)
        else:
            self._mark_up()

    async def aclose(self) -> None:
        if self._reconnect is not None:
            self._reconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect
        if self._client is not None:
            await self._client.aclose()

    # -- health -----------------------------------------------------------------------------

    def _mark_up(self) -> None:
        if self._problem is not None:
            log.info("shared state reachable", url=redact_url(self.url))
        self._problem = None
        self._up.set()

    def _down(self, exc: BaseException) -> None:
        """Record the outage and make sure one task is trying to reconnect."""
        if self._up.is_set() or self._problem == "not connected yet":
            log.warning("shared state unreachable", url=redact_url(self.url), error=str(exc))
        self._problem = f"redis at {redact_url(self.url)} is unreachable ({type(exc).__name__})"
        self._up.clear()
        if self._reconnect is None or self._reconnect.done():
            self._reconnect = asyncio.create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        delay = FIRST_BACKOFF
        while True:
            await asyncio.sleep(delay)
            try:
                await self._redis().ping()
            except Exception:  # noqa: BLE001 - still down: wait longer
                delay = min(delay * 2, self.config.max_backoff)
            else:
                self._mark_up()
                return

    def _redis(self) -> Redis:
        if self._client is None:
            raise StateUnavailableError("The shared state store is not started.")
        return self._client

    async def _call(self, operation: Callable[[Redis], Awaitable[Any]]) -> Any:
        """Run one command, or fail fast while the server is known to be down."""
        from redis.exceptions import ConnectionError as RedisConnectionError  # noqa: PLC0415
        from redis.exceptions import TimeoutError as RedisTimeoutError  # noqa: PLC0415

        if not self._up.is_set():
            raise StateUnavailableError
        try:
            return await operation(self._redis())
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            self._down(exc)
            raise StateUnavailableError from exc

    def _key(self, namespace: str, key: str) -> str:
        namespace = self.check_name("namespace", namespace)
        return f"{self.config.key_prefix}{namespace}:{self.check_key(key)}"

    def _channel(self, channel: str) -> str:
        return f"{self.config.key_prefix}channel:{self.check_name('channel', channel)}"

    # -- the interface ------------------------------------------------------------------------

    async def get(self, namespace: str, key: str) -> bytes | None:
        name = self._key(namespace, key)
        value = await self._call(lambda redis: redis.get(name))
        return bytes(value) if value is not None else None

    async def set(
        self, namespace: str, key: str, value: bytes, *, ttl: float | None = None
    ) -> None:
        name = self._key(namespace, key)
        px = max(1, round(ttl * 1000)) if ttl is not None else None
        await self._call(lambda redis: redis.set(name, value, px=px))

    async def delete(self, namespace: str, key: str) -> None:
        name = self._key(namespace, key)
        await self._call(lambda redis: redis.delete(name))

    async def compare_and_set(
        self, namespace: str, key: str, expected: bytes | None, value: bytes
    ) -> bool:
        name = self._key(namespace, key)
        args = ["1" if expected is not None else "0", expected or b"", value]
        done = await self._call(lambda redis: redis.eval(COMPARE_AND_SET, 1, name, *args))
        return bool(done)

    async def publish(self, channel: str, message: bytes) -> None:
        name = self._channel(channel)
        await self._call(lambda redis: redis.publish(name, message))

    async def subscribe(self, channel: str) -> AsyncIterator[bytes | None]:
        from redis.exceptions import RedisError  # noqa: PLC0415

        name = self._channel(channel)
        while True:
            await self._up.wait()
            pubsub = self._redis().pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(name)
                yield None  # (re)subscribed: whatever was published meanwhile is lost
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        yield bytes(message["data"])
            except (RedisError, OSError) as exc:
                if self._up.is_set():
                    self._down(exc)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
