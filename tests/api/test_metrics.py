"""GET /metrics: the values move as the work happens, labels are templates, access follows config.

The app runs in-process on the fake engines; each test parses the exposition with
prometheus_client's own parser, before and after the work, and checks what moved.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from contextlib import asynccontextmanager

import httpx
import openai
import pytest
from clips import speech_24k
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from servers import served

import voxgate_openai_upstream
from tests.conftest import FAKE_TOML
from voxgate.engines.audio import PcmAudio
from voxgate.middleware import TelemetryMiddleware
from voxgate.testing import app_client, build_test_app, fakes
from voxgate.testing.app import TEST_BASE_URL
from voxgate.testing.fakes import tone, wav_bytes

# The SDK's realtime client opens its socket without websockets' context manager.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:connect\(\) must be used as a context manager:DeprecationWarning"
)

KEYS = {"VOXGATE_API_KEYS": "sk-metrics"}
AUTH = {"authorization": "Bearer sk-metrics"}
WORDS = "One two three four five."  # the fake TTS speaks 0.1 s per word


class Scrape:
    """One parsed exposition: sample values by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        self.types: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def labels_of(self, name: str) -> list[dict[str, str]]:
        return [dict(labels) for sample, labels in self.samples if sample == name]


async def scrape_when(client, name: str, expected: float, **labels: str) -> Scrape:
    """A scrape once ``name`` has ``expected``: an engine run is observed when its slot is
    free, which may be just after its response went out."""
    deadline = time.monotonic() + 5
    while True:
        scraped = await scrape(client)
        if scraped.value(name, **labels) == expected:
            return scraped
        assert time.monotonic() < deadline, f"{name}{labels} never became {expected}"
        await asyncio.sleep(0.01)


async def scrape(client, **headers: str) -> Scrape:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return Scrape(response.text)


def scrape_sync(client) -> Scrape:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return Scrape(response.text)


@asynccontextmanager
async def sdk_and_client(toml: str, plugins, **kwargs):
    """The official SDK and the raw test client, on one in-process app."""
    async with app_client(toml, plugins, **kwargs) as client:
        sdk = openai.AsyncOpenAI(
            api_key="sk-metrics",
            base_url=f"{TEST_BASE_URL}/v1",
            http_client=client,
            max_retries=0,
        )
        yield sdk, client


async def wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


# -- what the work moves ------------------------------------------------------------------------


async def test_a_transcription_counts_its_request_audio_and_realtime_factor(plugins):
    async with sdk_and_client(FAKE_TOML, plugins) as (sdk, client):
        before = await scrape(client)
        assert before.value("voxgate_audio_seconds_total", instance="fake-stt", direction="in") == 0
        assert before.value("voxgate_engine_loaded", instance="fake-stt") == 0
        assert before.value("voxgate_engine_load_seconds", instance="fake-stt") is None
        result = await sdk.audio.transcriptions.create(
            model="whisper-1", file=("clip.wav", wav_bytes(tone(3.0)))
        )
        assert result.text
        after = await scrape_when(client, "voxgate_realtime_factor_count", 1, instance="fake-stt")
    route = "/v1/audio/transcriptions"
    assert after.value("voxgate_requests_total", route=route, status="200") == 1
    assert after.value("voxgate_request_duration_seconds_count", route=route) == 1
    assert after.value("voxgate_audio_seconds_total", instance="fake-stt", direction="in") == 3.0
    assert after.value("voxgate_realtime_factor_count", instance="fake-stt") == 1
    assert after.value("voxgate_realtime_factor_sum", instance="fake-stt") >= 0
    assert after.value("voxgate_engine_loaded", instance="fake-stt") == 1
    assert after.value("voxgate_engine_load_seconds", instance="fake-stt") > 0
    assert after.value("voxgate_engine_busy", instance="fake-stt") == 0
    assert after.value("voxgate_engine_queue_depth", instance="fake-stt") == 0
    assert after.value("voxgate_time_to_first_audio_seconds_count", instance="fake-stt") is None
    assert after.value("voxgate_audio_seconds_total", instance="tone", direction="out") == 0


async def test_a_speech_request_counts_audio_out_and_time_to_first_audio(plugins):
    async with sdk_and_client(FAKE_TOML, plugins) as (sdk, client):
        response = await sdk.audio.speech.create(
            model="tts-1", voice="tone", input=WORDS, response_format="wav"
        )
        assert len(response.content) > 44
        after = await scrape_when(client, "voxgate_realtime_factor_count", 1, instance="tone")
    assert after.value("voxgate_requests_total", route="/v1/audio/speech", status="200") == 1
    audio_out = after.value("voxgate_audio_seconds_total", instance="tone", direction="out")
    assert audio_out == pytest.approx(0.5)
    assert after.value("voxgate_realtime_factor_count", instance="tone") == 1
    assert after.value("voxgate_time_to_first_audio_seconds_count", instance="tone") == 1
    first_audio = after.value("voxgate_time_to_first_audio_seconds_sum", instance="tone")
    assert (
        0
        < first_audio
        < after.value("voxgate_request_duration_seconds_sum", route="/v1/audio/speech")
    )
    assert after.value("voxgate_audio_seconds_total", instance="fake-stt", direction="in") == 0


async def test_the_realtime_factor_is_engine_time_over_audio_time(plugins):
    # 0.1 s of engine work per word, 0.1 s of audio per word: a factor of about 1
    toml = FAKE_TOML.replace('kind = "fake-tts"', 'kind = "fake-tts"\ndelay = 0.1', 1)
    async with sdk_and_client(toml, plugins) as (sdk, client):
        await sdk.audio.speech.create(
            model="tts-1", voice="tone", input=WORDS, response_format="pcm"
        )
        after = await scrape_when(client, "voxgate_realtime_factor_count", 1, instance="tone")
    assert after.value("voxgate_realtime_factor_count", instance="tone") == 1
    assert after.value("voxgate_realtime_factor_sum", instance="tone") == pytest.approx(
        1.0, abs=0.5
    )
    assert after.value("voxgate_realtime_factor_bucket", instance="tone", le="0.5") == 0


@asynccontextmanager
async def served_client(toml: str, plugins):
    """The app in uvicorn on a thread, and an async client: requests really run at once
    (the in-process test client runs one request at a time)."""
    app = build_test_app(toml, plugins)
    with served(app) as address:
        async with httpx.AsyncClient(base_url=f"http://{address}", timeout=30) as client:
            yield client, app.state.runtime


async def test_a_full_queue_is_a_rejection_and_the_gauges_show_the_pool(plugins):
    toml = FAKE_TOML.replace(
        'kind = "fake-stt"', 'kind = "fake-stt"\ngate = "held"\nconcurrency = 1\nmax_queue = 1', 1
    )
    gate = fakes.GATES.setdefault("held", threading.Event())
    upload = {"file": ("a.wav", wav_bytes(tone(1.0)), "audio/wav")}
    async with served_client(toml, plugins) as (client, runtime):
        instance = runtime.pool.stt["fake-stt"]

        def transcribe():
            return client.post(
                "/v1/audio/transcriptions", data={"model": "whisper-1"}, files=upload
            )

        running = asyncio.create_task(transcribe())
        await wait_until(lambda: instance.active == 1)
        waiting = asyncio.create_task(transcribe())
        await wait_until(lambda: instance.waiting == 1)
        during = await scrape(client)
        refused = await transcribe()
        assert refused.status_code == 429
        assert refused.json()["error"]["type"] == "rate_limit_exceeded"
        gate.set()
        assert (await running).status_code == 200
        assert (await waiting).status_code == 200
        after = await scrape_when(client, "voxgate_engine_busy", 0, instance="fake-stt")
    assert during.value("voxgate_engine_busy", instance="fake-stt") == 1
    assert during.value("voxgate_engine_queue_depth", instance="fake-stt") == 1
    assert during.value("voxgate_engine_busy", instance="tone") == 0
    rejected = {"instance": "fake-stt", "reason": "queue_full"}
    assert during.value("voxgate_engine_rejected_total", **rejected) == 0
    assert after.value("voxgate_engine_rejected_total", **rejected) == 1
    assert (
        after.value("voxgate_engine_rejected_total", instance="fake-stt", reason="queue_timeout")
        == 0
    )
    route = "/v1/audio/transcriptions"
    assert after.value("voxgate_requests_total", route=route, status="429") == 1
    assert after.value("voxgate_requests_total", route=route, status="200") == 2
    assert after.value("voxgate_engine_queue_depth", instance="fake-stt") == 0
    assert after.value("voxgate_audio_seconds_total", instance="fake-stt", direction="in") == 2.0


async def test_a_queue_timeout_is_a_rejection_of_its_own(plugins):
    toml = FAKE_TOML.replace(
        'kind = "fake-stt"', 'kind = "fake-stt"\ngate = "slow"\nqueue_timeout = 0.05', 1
    )
    gate = fakes.GATES.setdefault("slow", threading.Event())
    upload = {"file": ("a.wav", wav_bytes(tone(1.0)), "audio/wav")}
    async with served_client(toml, plugins) as (client, runtime):
        instance = runtime.pool.stt["fake-stt"]
        running = asyncio.create_task(
            client.post("/v1/audio/transcriptions", data={"model": "whisper-1"}, files=upload)
        )
        await wait_until(lambda: instance.active == 1)
        timed_out = await client.post(
            "/v1/audio/transcriptions", data={"model": "whisper-1"}, files=upload
        )
        assert timed_out.status_code == 503
        gate.set()
        assert (await running).status_code == 200
        after = await scrape(client)
    timeout = {"instance": "fake-stt", "reason": "queue_timeout"}
    assert after.value("voxgate_engine_rejected_total", **timeout) == 1
    assert (
        after.value("voxgate_engine_rejected_total", instance="fake-stt", reason="queue_full") == 0
    )
    assert (
        after.value("voxgate_requests_total", route="/v1/audio/transcriptions", status="503") == 1
    )


async def test_routes_are_labelled_by_their_templates(plugins):
    async with app_client(FAKE_TOML, plugins) as client:
        for model in ("whisper-1", "tts-1", "Systran/faster-whisper-tiny.en"):
            assert (await client.get(f"/v1/models/{model}")).status_code == 200
        for path in ("/v1/nope/1", "/v1/nope/2", "/favicon.ico"):
            assert (await client.get(path)).status_code == 404
        after = await scrape(client)
    models = "/v1/models/{model_id}"
    assert after.value("voxgate_requests_total", route=models, status="200") == 3
    assert after.value("voxgate_request_duration_seconds_count", route=models) == 3
    assert after.value("voxgate_requests_total", route="unmatched", status="404") == 3
    routes = {labels["route"] for labels in after.labels_of("voxgate_requests_total")}
    assert routes == {models, "unmatched"}, "a scrape is counted once it is answered"
    assert not any("whisper-1" in route or "nope" in route for route in routes)


async def test_two_apps_in_one_process_count_apart(plugins):
    async with app_client(FAKE_TOML, plugins) as first, app_client(FAKE_TOML, plugins) as second:
        await first.get("/v1/models")
        await first.get("/v1/models")
        await second.get("/v1/models")
        one, two = await scrape(first), await scrape(second)
    assert one.value("voxgate_requests_total", route="/v1/models", status="200") == 2
    assert two.value("voxgate_requests_total", route="/v1/models", status="200") == 1


# -- access ---------------------------------------------------------------------------------------


async def test_key_mode_needs_the_api_key_when_keys_are_set(plugins):
    async with app_client(FAKE_TOML, plugins, environ=KEYS) as client:
        refused = await client.get("/metrics")
        assert refused.status_code == 401
        assert refused.json() == {
            "error": {
                "message": refused.json()["error"]["message"],
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
        assert (
            await client.get("/metrics", headers={"authorization": "Bearer sk-no"})
        ).status_code == 401
        scraped = await scrape(client, **AUTH)
    assert scraped.value("voxgate_requests_total", route="/metrics", status="401") == 2


async def test_key_mode_is_open_without_keys_and_open_mode_is_open_with_them(plugins):
    async with app_client(FAKE_TOML, plugins) as client:
        await scrape(client)  # the default: "key", and no keys are configured
    toml = FAKE_TOML + '[server]\nmetrics = "open"\n'
    async with app_client(toml, plugins, environ=KEYS) as client:
        await scrape(client)
        assert (await client.get("/v1/models")).status_code == 401, "only /metrics is open"


async def test_off_mode_has_no_route_and_collects_nothing(plugins):
    toml = FAKE_TOML + '[server]\nmetrics = "off"\n'
    async with app_client(toml, plugins) as client:
        missing = await client.get("/metrics")
        assert missing.status_code == 404
        assert missing.json()["error"]["type"] == "invalid_request_error"
        app = client.app
        runtime = app.state.runtime
        assert runtime.telemetry.metrics is None
        assert not runtime.telemetry.enabled
        assert not isinstance(app.asgi_handler.app, TelemetryMiddleware), "no request layer"
        upload = {"file": ("a.wav", wav_bytes(tone(1.0)), "audio/wav")}
        response = await client.post(
            "/v1/audio/transcriptions", data={"model": "whisper-1"}, files=upload
        )
        assert response.status_code == 200
        instance = runtime.pool.stt["fake-stt"]
        assert instance.telemetry.engine_run(instance.name, "in") is None, "no run is observed"


async def test_metrics_stay_out_of_the_openapi_schema(plugins):
    async with app_client(FAKE_TOML, plugins) as client:
        schema = (await client.get("/docs/openapi.json")).json()
    assert "/metrics" not in schema["paths"]
    assert "/v1/audio/speech" in schema["paths"]


async def test_openmetrics_when_the_scraper_asks(plugins):
    async with app_client(FAKE_TOML, plugins) as client:
        response = await client.get(
            "/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"}
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


# -- WebSocket sessions ----------------------------------------------------------------------------

MANUAL_TRANSCRIPTION = {
    "type": "transcription",
    "audio": {"input": {"transcription": {"model": "whisper-1"}, "turn_detection": None}},
}


def wait_for_scrape(client, name: str, expected: float, **labels: str) -> Scrape:
    deadline = time.monotonic() + 5
    while True:
        scraped = scrape_sync(client)
        if scraped.value(name, **labels) == expected:
            return scraped
        assert time.monotonic() < deadline, f"{name}{labels} never became {expected}"
        time.sleep(0.02)


def wait_for_gauge(client, kind: str, expected: float) -> Scrape:
    return wait_for_scrape(client, "voxgate_websocket_sessions", expected, kind=kind)


def test_websocket_sessions_are_counted_while_open(plugins):
    app = build_test_app(FAKE_TOML, plugins)
    two_seconds = PcmAudio.silence(2.0, 24_000).to_pcm16()
    with TestClient(app) as client:
        before = scrape_sync(client)
        assert before.value("voxgate_websocket_sessions", kind="realtime") == 0
        assert before.value("voxgate_websocket_sessions", kind="live") == 0
        with client.websocket_connect("/v1/realtime?intent=transcription") as ws:
            assert ws.receive_json()["type"] == "session.created"
            during = scrape_sync(client)
            ws.send_json({"type": "session.update", "session": MANUAL_TRANSCRIPTION})
            assert ws.receive_json()["type"] == "session.updated"
            audio = base64.b64encode(two_seconds).decode()
            ws.send_json({"type": "input_audio_buffer.append", "audio": audio})
            ws.send_json({"type": "input_audio_buffer.commit"})
            while ws.receive_json()["type"] != "conversation.item.done":
                pass
        wait_for_gauge(client, "realtime", 0)
        requests = {"route": "/v1/realtime", "status": "101"}
        after = wait_for_scrape(client, "voxgate_requests_total", 1, **requests)
        with client.websocket_connect("/v1/audio/transcriptions-realtime?model=whisper-1") as ws:
            live = wait_for_gauge(client, "live", 1)
        wait_for_gauge(client, "live", 0)
    assert during.value("voxgate_websocket_sessions", kind="realtime") == 1
    assert during.value("voxgate_websocket_sessions", kind="live") == 0
    assert live.value("voxgate_websocket_sessions", kind="realtime") == 0
    assert after.value("voxgate_audio_seconds_total", instance="fake-stt", direction="in") == 2.0
    assert after.value("voxgate_request_duration_seconds_count", route="/v1/realtime") is None


def test_a_realtime_answer_times_its_first_audio_and_its_upstream(conversation_server):
    base = f"http://{conversation_server}"

    def scrape_served() -> Scrape:
        return Scrape(httpx.get(f"{base}/metrics", timeout=10).text)

    with openai.OpenAI(
        api_key="dummy",
        base_url=f"{base}/v1",
        websocket_base_url=f"ws://{conversation_server}/v1",
        max_retries=0,
    ) as sdk:
        before = scrape_served()
        with sdk.realtime.connect(model="gpt-realtime") as connection:
            assert connection.recv().type == "session.created"
            connection.session.update(
                session={
                    "type": "realtime",
                    "instructions": "Answer briefly.",
                    "audio": {"output": {"voice": "tone"}, "input": {"turn_detection": None}},
                }
            )
            assert connection.recv().type == "session.updated"
            for start in range(0, len(SPEECH), 4_800):
                chunk = base64.b64encode(SPEECH[start : start + 4_800]).decode()
                connection.input_audio_buffer.append(audio=chunk)
            connection.input_audio_buffer.commit()
            connection.response.create()
            while (event := connection.recv()).type != "response.done":
                pass
            assert event.response.status == "completed"
            during = scrape_served()
        deadline = time.monotonic() + 5
        after = scrape_served()
        while after.value("voxgate_websocket_sessions", kind="realtime") != 0:
            assert time.monotonic() < deadline, "the session never ended"
            time.sleep(0.02)
            after = scrape_served()
    assert before.value("voxgate_time_to_first_audio_seconds_count", instance="tone") is None
    assert during.value("voxgate_websocket_sessions", kind="realtime") == 1
    assert during.value("voxgate_time_to_first_audio_seconds_count", instance="tone") == 1
    assert during.value("voxgate_upstream_request_duration_seconds_count", status="200") == 1
    # engine runs are counted once their slot is free, which may come just after the events
    heard = after.value("voxgate_audio_seconds_total", instance="fake-stt", direction="in")
    assert heard == pytest.approx(len(SPEECH) / 2 / 24_000, abs=0.01)
    spoken = after.value("voxgate_audio_seconds_total", instance="tone", direction="out")
    assert spoken > 0


SPEECH = speech_24k()


# -- the chat upstream ------------------------------------------------------------------------------


def chat_toml(upstream_url: str) -> str:
    return f'[chat.upstream]\nkind = "openai"\nbase_url = "{upstream_url}"\nretries = 0\n'


async def test_upstream_calls_are_timed_by_status(plugins, fake_upstream, monkeypatch):
    for name in ("CHAT_COMPLETION_BASE_URL", "CHAT_COMPLETION_MODEL", "CHAT_COMPLETION_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    chat = [*plugins, voxgate_openai_upstream]
    async with sdk_and_client(chat_toml(fake_upstream.url), chat) as (sdk, client):
        messages = [{"role": "user", "content": "Hi"}]
        await sdk.chat.completions.create(model="any", messages=messages)
        stream = await sdk.chat.completions.create(model="any", messages=messages, stream=True)
        assert [chunk async for chunk in stream]
        with pytest.raises(openai.AuthenticationError):
            await sdk.chat.completions.create(model="fail-401", messages=messages)
        after = await scrape(client)
    assert after.value("voxgate_upstream_request_duration_seconds_count", status="200") == 2
    assert after.value("voxgate_upstream_request_duration_seconds_count", status="401") == 1
    route = "/v1/chat/completions"
    assert after.value("voxgate_requests_total", route=route, status="401") == 1
    assert after.types["voxgate_upstream_request_duration_seconds"] == "histogram"


async def test_every_metric_has_its_type_and_labels(plugins):
    expected = {
        "voxgate_requests": ("counter", {"route", "status"}),
        "voxgate_request_duration_seconds": ("histogram", {"route"}),
        "voxgate_engine_queue_depth": ("gauge", {"instance"}),
        "voxgate_engine_busy": ("gauge", {"instance"}),
        "voxgate_engine_rejected": ("counter", {"instance", "reason"}),
        "voxgate_engine_loaded": ("gauge", {"instance"}),
        "voxgate_engine_load_seconds": ("gauge", {"instance"}),
        "voxgate_audio_seconds": ("counter", {"instance", "direction"}),
        "voxgate_realtime_factor": ("histogram", {"instance"}),
        "voxgate_time_to_first_audio_seconds": ("histogram", {"instance"}),
        "voxgate_websocket_sessions": ("gauge", {"kind"}),
        "voxgate_upstream_request_duration_seconds": ("histogram", {"status"}),
    }
    async with sdk_and_client(FAKE_TOML, plugins) as (sdk, client):
        await sdk.audio.transcriptions.create(
            model="whisper-1", file=("a.wav", wav_bytes(tone(1.0)))
        )
        await sdk.audio.speech.create(
            model="tts-1", voice="tone", input=WORDS, response_format="wav"
        )
        app = client.app
        app.state.runtime.telemetry.metrics.upstream_duration.labels("200").observe(0.1)
        families = {
            family.name: family
            for family in text_string_to_metric_families((await client.get("/metrics")).text)
        }
    # the text format lists a counter's or histogram's `_created` series as a gauge of its own
    exported = {
        name for name in families if name.startswith("voxgate_") and not name.endswith("_created")
    }
    assert exported == set(expected)
    for name, (kind, labels) in expected.items():
        family = families[name]
        assert family.type == kind, name
        label_sets = {frozenset(s.labels) - {"le"} for s in family.samples}
        assert label_sets == {frozenset(labels)}, name
