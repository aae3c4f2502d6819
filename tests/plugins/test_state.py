"""The ``state`` kinds: one behaviour, checked on ``memory`` and on a real ``redis-server``.

Redis outages are real too: the server is killed and started again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from servers import free_port
from system_servers import Redis

import voxgate_state
from voxgate import ComponentContext, MemoryConfig, MemoryStore, StateStore, StateUnavailableError
from voxgate.config import ConfigError
from voxgate.testing.app import build_test_config
from voxgate_state import RedisConfig, RedisStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def _context() -> ComponentContext:
    return ComponentContext(instance="state", cache_dir=Path(), resolve_model_path=Path)


@pytest.fixture
def redis_server(tmp_path: Path) -> AsyncIterator[Redis]:
    server = Redis(tmp_path).start()
    yield server
    server.stop()


async def _redis_store(url: str, **options: object) -> RedisStore:
    store = RedisStore(RedisConfig(timeout=1.0, max_backoff=0.2, **options), _context(), url=url)  # type: ignore[arg-type]
    await store.start()
    return store


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateStore]:
    if request.param == "memory":
        made: StateStore = MemoryStore(MemoryConfig(), _context(), url="memory://")
        await made.start()
        yield made
        await made.aclose()
        return
    server = Redis(tmp_path).start()
    made = await _redis_store(server.url)
    yield made
    await made.aclose()
    server.stop()


async def test_get_set_delete(store: StateStore) -> None:
    assert await store.get("ns", "k") is None
    await store.set("ns", "k", b"v")
    assert await store.get("ns", "k") == b"v"
    assert await store.get("other", "k") is None, "namespaces are separate"
    await store.delete("ns", "k")
    assert await store.get("ns", "k") is None


async def test_values_expire(store: StateStore) -> None:
    await store.set("ns", "short", b"v", ttl=0.1)
    await store.set("ns", "long", b"v", ttl=60)
    await asyncio.sleep(0.25)
    assert await store.get("ns", "short") is None
    assert await store.get("ns", "long") == b"v"


async def test_compare_and_set(store: StateStore) -> None:
    assert await store.compare_and_set("ns", "k", None, b"1")
    assert not await store.compare_and_set("ns", "k", None, b"2"), "present: not absent"
    assert not await store.compare_and_set("ns", "k", b"0", b"2"), "another value"
    assert await store.compare_and_set("ns", "k", b"1", b"2")
    assert await store.get("ns", "k") == b"2"


async def test_publish_reaches_subscribers(store: StateStore) -> None:
    subscription = store.subscribe("news")
    assert await anext(subscription) is None, "first: re-read what you follow"
    await store.publish("news", b"hello")
    assert await asyncio.wait_for(anext(subscription), 5) == b"hello"
    await subscription.aclose()  # type: ignore[attr-defined]


async def test_names_and_keys_are_checked(store: StateStore) -> None:
    with pytest.raises(ValueError, match="namespace"):
        await store.get("Bad Name", "k")
    with pytest.raises(ValueError, match="keys"):
        await store.get("ns", "")


async def test_memory_bounds_each_namespace() -> None:
    store = MemoryStore(MemoryConfig(max_entries=2), _context(), url="memory://")
    for key in ("a", "b", "c"):
        await store.set("ns", key, b"v")
    assert await store.get("ns", "a") is None, "the least recently used went first"
    assert await store.get("ns", "c") == b"v"


async def test_redis_keys_carry_the_prefix(redis_server: Redis) -> None:
    one = await _redis_store(redis_server.url, key_prefix="one:")
    two = await _redis_store(redis_server.url, key_prefix="two:")
    await one.set("ns", "k", b"1")
    assert await two.get("ns", "k") is None, "deployments sharing a server stay apart"
    await one.aclose()
    await two.aclose()


async def test_redis_outage_fails_fast_and_heals(redis_server: Redis) -> None:
    store = await _redis_store(redis_server.url)
    subscription = store.subscribe("news")
    assert await anext(subscription) is None
    await store.set("ns", "k", b"v")
    redis_server.stop()
    with pytest.raises(StateUnavailableError):
        await store.get("ns", "k")
    assert store.problem is not None
    assert "unreachable" in store.problem
    started = time.monotonic()
    with pytest.raises(StateUnavailableError):
        await store.set("ns", "k", b"v")
    assert time.monotonic() - started < 0.05, "while down, calls fail at once"
    next_message = asyncio.ensure_future(anext(subscription))
    redis_server.start()  # same port, empty: nothing was persisted
    deadline = time.monotonic() + 10
    while store.problem is not None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert store.problem is None, "reconnected with backoff on its own"
    assert await store.get("ns", "k") is None
    assert await asyncio.wait_for(next_message, 10) is None, "resubscribed: re-read"
    await store.publish("news", b"again")
    assert await asyncio.wait_for(anext(subscription), 5) == b"again"
    await subscription.aclose()  # type: ignore[attr-defined]
    await store.aclose()


async def test_redis_down_at_start_is_not_fatal() -> None:
    store = await _redis_store(f"redis://127.0.0.1:{free_port()}/0")
    assert store.problem is not None
    with pytest.raises(StateUnavailableError) as raised:
        await store.get("ns", "k")
    assert raised.value.status_code == 503
    assert raised.value.code == "state_unavailable"
    await store.aclose()


def test_state_url_picks_the_kind() -> None:
    config, _ = build_test_config('[state]\nurl = "redis://127.0.0.1:6379/0"\nkey_prefix = "a:"')
    assert config.state is not None
    assert (config.state.kind, config.state.options) == ("redis", RedisConfig(key_prefix="a:"))
    default, _ = build_test_config("")
    assert default.state is not None
    assert default.state.kind == "memory"


def test_state_url_from_the_environment() -> None:
    config, _ = build_test_config("", environ={"VOXGATE_STATE_URL": "redis://cache:6379/1"})
    assert config.state is not None
    assert (config.state.kind, config.state.url) == ("redis", "redis://cache:6379/1")


@pytest.mark.parametrize(
    ("toml", "path", "message"),
    [
        ('url = "mongodb://x"', "state.url", "no state store kind serves 'mongodb://x'"),
        ('url = "redis://:secret@x"\nnope = 1', "state.nope", "unknown key"),
        ('url = "redis://x:port"', "state.url", "not a valid URL"),
        ("max_entries = 0", "state.max_entries", ">= 1"),
    ],
)
def test_bad_state_tables(toml: str, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        build_test_config(f"[state]\n{toml}")
    problems = {problem.path: problem.message for problem in raised.value.problems}
    assert message in problems[path]
    assert "secret" not in str(raised.value)


def test_the_builtin_plugin_registers_both_kinds() -> None:
    assert voxgate_state.MemoryStore is MemoryStore
    with contextlib.suppress(Exception):
        pass
