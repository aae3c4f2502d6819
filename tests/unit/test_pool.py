"""The engine pool: queue limits (429/503), preload and /ready, idle unload, cancellation."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from tests.conftest import FAKE_TOML
from voxgate import SpeechOptions, TranscribeOptions, VoiceChoice
from voxgate.errors import EngineError, RateLimitError, ServiceUnavailableError
from voxgate.plugins.hooks import Hooks
from voxgate.runtime import build_runtime
from voxgate.testing import app_client, build_test_app, fakes
from voxgate.testing.app import build_test_config


def runtime_for(toml: str):
    config, pm = build_test_config(toml, [fakes])
    return build_runtime(config, Hooks(pm))


def gated_tts(gate: str, **settings: object) -> str:
    extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())
    return f'[tts.tone]\nkind = "fake-tts"\ngate = "{gate}"\n{extra}'


async def wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def consume(stream) -> int:
    count = 0
    async for _ in stream:
        count += 1
    return count


async def test_full_queue_is_429_with_retry_after():
    gate = fakes.GATES.setdefault("q", __import__("threading").Event())
    runtime = runtime_for(gated_tts("q", concurrency=1, max_queue=1))
    instance = runtime.pool.tts["tone"]
    call = lambda e: e.synthesize("a b", VoiceChoice(voice_id="tone"), SpeechOptions())
    first = asyncio.create_task(consume(await instance.open_stream(call)))
    queued = asyncio.create_task(instance.open_stream(call))
    await wait_until(lambda: instance.waiting == 1)
    with pytest.raises(RateLimitError) as info:
        await instance.open_stream(call)
    assert info.value.status_code == 429
    assert int(info.value.headers["Retry-After"]) >= 1
    gate.set()
    assert await first == 2
    assert await consume(await queued) == 2
    await wait_until(lambda: instance.active == 0)
    await runtime.pool.close()


async def test_refuse_waiting_ends_the_queue_at_once_and_spares_the_running():
    gate = fakes.GATES.setdefault("drain", threading.Event())
    runtime = runtime_for(gated_tts("drain", concurrency=1))
    instance = runtime.pool.tts["tone"]
    call = lambda e: e.synthesize("a b", VoiceChoice(voice_id="tone"), SpeechOptions())
    running = asyncio.create_task(consume(await instance.open_stream(call)))
    queued = asyncio.create_task(instance.open_stream(call))
    await wait_until(lambda: instance.waiting == 1)
    shutting_down = ServiceUnavailableError("shutting down", code="server_shutting_down")
    runtime.pool.refuse_waiting(lambda: shutting_down)
    with pytest.raises(ServiceUnavailableError) as refused:
        await queued
    assert refused.value is shutting_down
    assert instance.waiting == 0
    with pytest.raises(ServiceUnavailableError):
        await instance.open_stream(call)
    gate.set()
    assert await running == 2, "the running request finishes"
    await wait_until(lambda: instance.active == 0)
    await runtime.pool.close()


async def test_admission_is_exact_under_a_burst():
    """concurrency + max_queue requests get in, all at once; every other one is a 429."""
    gate = fakes.GATES.setdefault("burst", threading.Event())
    runtime = runtime_for(gated_tts("burst", concurrency=2, max_queue=3))
    instance = runtime.pool.tts["tone"]
    await instance.ensure_loaded()  # no load lock in the way: only admission is measured
    call = lambda e: e.synthesize("a", VoiceChoice(voice_id="tone"), SpeechOptions())

    async def one() -> str:
        try:
            stream = await instance.open_stream(call)
        except RateLimitError:
            return "429"
        await consume(stream)
        return "ok"

    burst = [asyncio.create_task(one()) for _ in range(20)]
    await wait_until(lambda: sum(task.done() for task in burst) == 15)
    assert instance.active + instance.waiting == 5
    gate.set()
    results = await asyncio.gather(*burst)
    assert results.count("ok") == 5
    assert results.count("429") == 15
    await runtime.pool.close()


async def test_queue_wait_is_bounded_by_queue_timeout():
    fakes.GATES.setdefault("t", __import__("threading").Event())
    runtime = runtime_for(gated_tts("t", max_queue=4, queue_timeout=0.05))
    instance = runtime.pool.tts["tone"]
    call = lambda e: e.synthesize("a", VoiceChoice(voice_id="tone"), SpeechOptions())
    busy = asyncio.create_task(consume(await instance.open_stream(call)))
    with pytest.raises(ServiceUnavailableError) as info:
        await instance.open_stream(call)
    assert info.value.status_code == 503
    assert "Retry-After" in info.value.headers
    fakes.GATES["t"].set()
    await busy
    await runtime.pool.close()


async def test_preload_and_readiness(plugins):
    fakes.GATES.setdefault("load", __import__("threading").Event())
    toml = '[stt.slow]\nkind = "fake-stt"\npreload = true\n[stt.lazy]\nkind = "fake-stt"\n'
    app = build_test_app(toml, plugins)
    from litestar.testing import AsyncTestClient

    async with AsyncTestClient(app=app) as client:
        runtime = app.state.runtime
        await wait_until(lambda: runtime.pool.stt["slow"].state == "loaded")
        ready = await client.get("/ready")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready"}
        assert runtime.pool.stt["lazy"].state == "unloaded", "not preloaded: loads on first use"


async def test_ready_is_503_with_reason_until_preload_finishes(plugins, monkeypatch):
    started = asyncio.Event()
    release = __import__("threading").Event()
    original = fakes.FakeSttEngine.load

    def slow_load(self):
        started.set()
        release.wait(5)
        original(self)

    monkeypatch.setattr(fakes.FakeSttEngine, "load", slow_load)
    async with app_client('[stt.slow]\nkind = "fake-stt"\npreload = true\n', plugins) as client:
        response = await client.get("/ready")
        assert response.status_code == 503
        assert response.json()["reasons"] == ["slow: loading"]
        assert (await client.get("/health")).status_code == 200, "liveness is not readiness"
        release.set()
        runtime = client.app.state.runtime
        await wait_until(lambda: runtime.pool.stt["slow"].state == "loaded")
        assert (await client.get("/ready")).status_code == 200


async def test_failed_preload_is_reported_and_requests_get_500(plugins):
    toml = '[stt.bad]\nkind = "fake-stt"\npreload = true\nfail_load = true\n[models]\n"whisper-1" = "bad"\n'
    toml += '[transcoder]\nkind = "wav"\n'
    async with app_client(toml, plugins) as client:
        runtime = client.app.state.runtime
        await wait_until(lambda: runtime.pool.stt["bad"].state == "failed")
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["reasons"] == ["bad: failed to load; see the server log"]
        assert runtime.pool.stt["bad"].load_error == "RuntimeError: fake load failure"
        from voxgate.testing.fakes import tone, wav_bytes

        response = await client.post(
            "/v1/test/transcribe",
            data={"model": "whisper-1"},
            files={"file": ("a.wav", wav_bytes(tone(1.0)), "audio/wav")},
        )
        assert response.status_code == 500
        assert "failed to load" in response.json()["error"]["message"]


async def test_idle_ttl_unloads_and_next_use_reloads():
    runtime = runtime_for('[stt.s]\nkind = "fake-stt"\nidle_ttl = 0.2\n')
    runtime.pool.start()
    instance = runtime.pool.stt["s"]
    audio = fakes.tone(1.0)
    opts = TranscribeOptions()
    assert len(await instance.run(lambda e: list(e.transcribe(audio, opts)))) == 1
    assert instance.state == "loaded"
    await wait_until(lambda: instance.state == "unloaded", timeout=3)
    assert len(await instance.run(lambda e: list(e.transcribe(audio, opts)))) == 1
    assert fakes.FakeSttEngine.loads == 2
    await runtime.pool.close()


async def test_closing_a_stream_stops_the_engine_and_frees_the_slot():
    runtime = runtime_for('[tts.tone]\nkind = "fake-tts"\ndelay = 0.02\n')
    instance = runtime.pool.tts["tone"]
    words = " ".join(f"w{i}" for i in range(100))
    stream = await instance.open_stream(
        lambda e: e.synthesize(words, VoiceChoice(voice_id="tone"), SpeechOptions())
    )
    received = 0
    async for _ in stream:
        received += 1
        if received == 3:
            break
    await stream.aclose()
    await wait_until(lambda: instance.active == 0)
    assert fakes.FakeTtsEngine.closed == 1
    assert fakes.FakeTtsEngine.steps < 10, "work stops soon after the consumer leaves"
    await runtime.pool.close()


async def test_unstarted_stream_releases_its_slot():
    runtime = runtime_for('[tts.tone]\nkind = "fake-tts"\n')
    instance = runtime.pool.tts["tone"]
    stream = await instance.open_stream(
        lambda e: e.synthesize("a b", VoiceChoice(voice_id="tone"), SpeechOptions())
    )
    assert instance.active == 1
    await stream.aclose()
    await wait_until(lambda: instance.active == 0)
    await runtime.pool.close()


async def test_client_disconnect_cancels_the_streaming_response(plugins):
    """A raw ASGI client that hangs up after the first chunk: the engine stops early."""
    app = build_test_app(
        FAKE_TOML.replace('kind = "fake-tts"', 'kind = "fake-tts"\ndelay = 0.02'), plugins
    )
    words = " ".join(f"w{i}" for i in range(200))
    body = json.dumps({"model": "tts-1", "input": words[:199]}).encode()
    first_chunk = asyncio.Event()
    messages: list[dict] = []

    async def receive():
        if not messages:
            messages.append({"type": "http.request"})
            return {"type": "http.request", "body": body, "more_body": False}
        await first_chunk.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.body" and message.get("body"):
            first_chunk.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/test/speech",
        "raw_path": b"/v1/test/speech",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    from litestar.testing import AsyncTestClient

    async with AsyncTestClient(app=app):  # runs the lifespan
        await asyncio.wait_for(app(scope, receive, send), timeout=10)
        instance = app.state.runtime.pool.tts["tone"]
        await wait_until(lambda: instance.active == 0)
    assert fakes.FakeTtsEngine.closed == 1
    assert 1 <= fakes.FakeTtsEngine.steps < 20, "the engine stopped soon after the disconnect"


async def test_load_failure_is_engine_error():
    runtime = runtime_for('[stt.bad]\nkind = "fake-stt"\nfail_load = true\n')
    with pytest.raises(EngineError):
        await runtime.pool.stt["bad"].ensure_loaded()
    await runtime.pool.close()


async def test_open_stream_calls_the_engine_in_the_worker_not_on_the_event_loop():
    """A call that blocks (a plain-function engine, a slow check) stalls only its worker."""
    runtime = runtime_for('[tts.tone]\nkind = "fake-tts"\n')
    instance = runtime.pool.tts["tone"]
    release = threading.Event()
    seen: dict[str, object] = {}

    def blocking_call(engine):
        seen["thread"] = threading.current_thread().name
        # only the event loop sets it: a call blocking the loop waits out its timeout
        seen["released"] = release.wait(timeout=2)
        return engine.synthesize("a b", VoiceChoice(voice_id="tone"), SpeechOptions())

    async def release_from_the_loop():
        await asyncio.sleep(0.01)
        release.set()

    releaser = asyncio.create_task(release_from_the_loop())
    stream = await instance.open_stream(blocking_call)
    await releaser
    assert seen["released"] is True, "the event loop ran while the engine call was blocked"
    assert str(seen["thread"]).startswith("voxgate-tone")
    assert await consume(stream) == 2
    await wait_until(lambda: instance.active == 0)
    await runtime.pool.close()


async def test_cancelled_open_stream_frees_the_slot_once_the_call_is_done():
    runtime = runtime_for('[tts.tone]\nkind = "fake-tts"\n')
    instance = runtime.pool.tts["tone"]
    entered = threading.Event()
    release = threading.Event()

    def slow_call(engine):
        entered.set()
        release.wait(timeout=5)
        return engine.synthesize("a", VoiceChoice(voice_id="tone"), SpeechOptions())

    opening = asyncio.create_task(instance.open_stream(slow_call))
    await wait_until(entered.is_set)
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    assert instance.active == 1, "the call still runs in the worker: its slot stays taken"
    release.set()
    await wait_until(lambda: instance.active == 0)
    assert fakes.FakeTtsEngine.steps == 0, "what the call made is closed, never run"
    await runtime.pool.close()
