"""The live voice mapping in the shared state store, so every replica speaks the same voices.

The whole mapping is one JSON value (namespace ``voices``, key ``mapping``). An edit reads it,
changes it and writes it back with compare-and-set, retrying when another replica wrote in
between, then publishes on channel ``voices``. Every app follows that channel: on each message,
and after every (re)connection, it reads the value again and swaps it in as its live mapping,
so ``map_voice`` stays one dict lookup. The first app to find no value seeds it with its own
(``[voices.<instance>]`` tables and ``mapping_file``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

import msgspec
import structlog

from voxgate import StateUnavailableError
from voxgate_voices.settings import (
    VoiceMapping,
    VoicesSettings,
    tts_instances,
    validate_mapping,
    voices_settings,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from litestar import Litestar

    from voxgate import RouteContext, StateStore

log = structlog.get_logger("voxgate.voices")

NAMESPACE = "voices"
KEY = "mapping"
CHANNEL = "voices"
MAX_ATTEMPTS = 16  # compare-and-set retries of one edit against concurrent ones
RETRY_SECONDS = 1.0  # the follower's wait after a failed read


def encode(mapping: VoiceMapping) -> bytes:
    """The stored form: compact JSON, keys sorted so equal mappings are equal bytes."""
    return msgspec.json.encode(mapping, order="sorted")


def decode(data: bytes, instances: list[str]) -> VoiceMapping:
    """The stored mapping, keeping what this app's TTS instances can use."""
    raw = msgspec.json.decode(data)
    if not isinstance(raw, dict):
        log.warning("shared voice mapping ignored: not a JSON object")
        return {}
    known = {name: table for name, table in raw.items() if name in instances}
    mapping, problems = validate_mapping(known, instances)
    for parts, message in problems:
        log.warning("shared voice mapping entry ignored", path=".".join(parts), problem=message)
    return mapping


async def edit(
    store: StateStore,
    local: VoiceMapping,
    change: Callable[[VoiceMapping], VoiceMapping],
    instances: list[str],
) -> tuple[VoiceMapping, VoiceMapping]:
    """Apply ``change`` (the tables it touches) to the shared mapping; (whole, changed).

    ``change`` may raise to refuse the edit, and may run more than once; ``local`` is the
    base while the store holds no mapping yet.
    """
    for _ in range(MAX_ATTEMPTS):
        current = await store.get(NAMESPACE, KEY)
        base = decode(current, instances) if current is not None else local
        changed = change(base)
        whole = {**base, **changed}
        if await store.compare_and_set(NAMESPACE, KEY, current, encode(whole)):
            with contextlib.suppress(StateUnavailableError):  # followers re-read on reconnect
                await store.publish(CHANNEL, b"changed")
            return whole, changed
    msg = "The voice mapping is being edited by others right now; retry."
    raise StateUnavailableError(msg)


async def follow(context: RouteContext, ready: asyncio.Event) -> None:
    """Keep this app's live mapping equal to the shared one until cancelled."""
    settings = voices_settings(context.config)
    if settings is None:
        ready.set()
        return
    store = context.state
    instances = tts_instances(context.config)
    subscription = store.subscribe(CHANNEL)
    if not isinstance(subscription, AsyncGenerator):
        msg = f"{type(store).__name__}.subscribe must be an async generator"
        raise TypeError(msg)
    try:
        async for _ in subscription:
            while True:
                try:
                    await _sync(store, instances, settings)
                    break
                except StateUnavailableError:
                    await asyncio.sleep(RETRY_SECONDS)
                except (msgspec.DecodeError, ValueError) as exc:  # keep the mapping we have
                    log.warning("shared voice mapping unreadable", error=str(exc))
                    break
            ready.set()
    finally:
        await subscription.aclose()


async def _sync(store: StateStore, instances: list[str], settings: VoicesSettings) -> None:
    """Swap the shared mapping in whole (readers never see half), seeding it if absent."""
    current = await store.get(NAMESPACE, KEY)
    if current is None:  # the first app of a fresh store: ours becomes everyone's
        if await store.compare_and_set(NAMESPACE, KEY, None, encode(settings.mapping)):
            return
        current = await store.get(NAMESPACE, KEY)
        if current is None:
            return
    settings.mapping = decode(current, instances)


@contextlib.asynccontextmanager
async def following(app: Litestar) -> AsyncIterator[None]:
    """The app's lifespan part: follow the shared mapping while the app runs."""
    from voxgate import RouteContext  # noqa: PLC0415 - a runtime import, not just for types

    context = RouteContext.of(app)
    ready = asyncio.Event()
    task = asyncio.create_task(follow(context, ready))
    if context.state.problem is None:  # start serving with the shared mapping when there is one
        with contextlib.suppress(TimeoutError):  # a store that hangs must not block start-up
            await asyncio.wait_for(ready.wait(), timeout=2.0)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
