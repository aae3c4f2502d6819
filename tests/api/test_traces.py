"""OpenTelemetry traces: the span tree of each request, read from the SDK's in-memory exporter.

The app gets its own tracer provider (``create_app(..., tracer_provider=...)``), as the
``otel`` extra builds one from ``OTEL_*`` variables; nothing global is installed.
"""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from contextlib import asynccontextmanager
from typing import ClassVar

import httpx
import pytest

pytest.importorskip("opentelemetry.sdk")

from litestar.testing import AsyncTestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from servers import served

import voxgate_openai_upstream
from tests.conftest import FAKE_TOML
from voxgate.app import create_app
from voxgate.testing import build_test_app
from voxgate.testing.app import build_test_config
from voxgate.testing.fakes import tone, wav_bytes

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@asynccontextmanager
async def traced(toml: str, plugins, environ: dict[str, str] | None = None):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    env = environ or {}
    config, pm = build_test_config(toml, plugins, environ=env)
    app = create_app(config, pm, environ=env, tracer_provider=provider)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield client, exporter
    provider.shutdown()


async def spans_when(exporter: InMemorySpanExporter, *names: str) -> list[ReadableSpan]:
    """The finished spans once every one of ``names`` has ended (an engine run ends when its
    slot is free, which may be just after the response went out)."""
    deadline = time.monotonic() + 5
    while True:
        spans = list(exporter.get_finished_spans())
        if {*names} <= {span.name for span in spans}:
            return spans
        assert time.monotonic() < deadline, f"missing spans: {names} in {[s.name for s in spans]}"
        await asyncio.sleep(0.01)


def tree(spans: list[ReadableSpan], root_name: str) -> tuple[ReadableSpan, list[ReadableSpan]]:
    """The request span named ``root_name`` and its children, in start order."""
    (root,) = [span for span in spans if span.name == root_name]
    children = [
        span
        for span in spans
        if span.parent is not None and span.parent.span_id == root.context.span_id
    ]
    assert all(span.context.trace_id == root.context.trace_id for span in children)
    return root, sorted(children, key=lambda span: span.start_time)


async def test_a_transcription_is_decode_queue_wait_load_and_engine_run(plugins):
    async with traced(FAKE_TOML, plugins) as (client, exporter):
        response = await client.post(
            "/v1/audio/transcriptions",
            data={"model": "whisper-1"},
            files={"file": ("a.wav", wav_bytes(tone(2.0)), "audio/wav")},
        )
        assert response.status_code == 200
        spans = await spans_when(exporter, "POST /v1/audio/transcriptions", "voxgate.engine_run")
    root, children = tree(spans, "POST /v1/audio/transcriptions")
    assert root.kind == SpanKind.SERVER
    assert root.parent is None
    assert root.attributes["http.route"] == "/v1/audio/transcriptions"
    assert root.attributes["http.response.status_code"] == 200
    assert root.attributes["voxgate.request_id"] == response.headers["x-request-id"]
    assert [span.name for span in children] == [
        "voxgate.decode",
        "voxgate.queue_wait",
        "voxgate.engine_load",  # the instance's first use
        "voxgate.engine_run",
    ]
    decode, queue_wait, load, run = children
    assert decode.end_time <= queue_wait.start_time
    assert queue_wait.end_time <= run.start_time
    assert load.end_time <= run.start_time
    for span in (queue_wait, load, run):
        assert span.attributes["voxgate.instance"] == "fake-stt"
    assert run.attributes["voxgate.audio_seconds"] == 2.0
    assert run.attributes["voxgate.compute_seconds"] >= 0


async def test_a_speech_request_is_queue_wait_engine_run_and_encodes(plugins):
    body = {"model": "tts-1", "input": "One two. Three four.", "voice": "tone"}
    async with traced(FAKE_TOML, plugins) as (client, exporter):
        await client.get("/v1/models")  # a request of its own: a trace of its own
        response = await client.post("/v1/audio/speech", json={**body, "response_format": "wav"})
        assert response.status_code == 200
        spans = await spans_when(exporter, "POST /v1/audio/speech", "voxgate.engine_run")
    root, children = tree(spans, "POST /v1/audio/speech")
    names = [span.name for span in children]
    assert names[:3] == ["voxgate.queue_wait", "voxgate.engine_load", "voxgate.engine_run"]
    encodes = [span for span in children if span.name == "voxgate.encode"]
    assert len(encodes) == 2, "one per piece: the first sentence, then the rest"
    assert names.count("voxgate.decode") == 0
    run = children[2]
    assert run.attributes["voxgate.audio_seconds"] == pytest.approx(0.4)
    assert all(span.attributes["voxgate.instance"] == "tone" for span in encodes)
    assert all(run.start_time <= span.start_time for span in encodes)
    (models,) = [span for span in spans if span.name == "GET /v1/models"]
    assert models.context.trace_id != root.context.trace_id


async def test_a_traceparent_continues_the_callers_trace(plugins):
    headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
    async with traced(FAKE_TOML, plugins) as (client, exporter):
        await client.get("/v1/models", headers=headers)
        await client.get("/v1/nope")
        spans = await spans_when(exporter, "GET /v1/models", "GET")
    (root,) = [span for span in spans if span.name == "GET /v1/models"]
    assert format(root.context.trace_id, "032x") == TRACE_ID
    assert format(root.parent.span_id, "016x") == PARENT_ID
    (unmatched,) = [span for span in spans if span.name == "GET"]
    assert unmatched.attributes["http.response.status_code"] == 404
    assert "http.route" not in unmatched.attributes


async def test_server_errors_mark_the_request_span(plugins):
    async with traced(FAKE_TOML, plugins) as (client, exporter):
        assert (await client.get("/v1/test/boom")).status_code == 500
        spans = await spans_when(exporter, "GET /v1/test/boom")
    (root,) = [span for span in spans if span.name == "GET /v1/test/boom"]
    assert root.status.status_code == StatusCode.ERROR


async def test_a_chat_completion_has_an_upstream_client_span(plugins, fake_upstream, monkeypatch):
    for name in ("CHAT_COMPLETION_BASE_URL", "CHAT_COMPLETION_MODEL", "CHAT_COMPLETION_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    toml = f'[chat.upstream]\nkind = "openai"\nbase_url = "{fake_upstream.url}"\nretries = 0\n'
    chat = [*plugins, voxgate_openai_upstream]
    messages = [{"role": "user", "content": "Hi"}]
    async with traced(toml, chat) as (client, exporter):
        plain = await client.post("/v1/chat/completions", json={"model": "m", "messages": messages})
        assert plain.status_code == 200
        failed = {"model": "fail-401", "messages": messages, "stream": True}
        assert (await client.post("/v1/chat/completions", json=failed)).status_code == 401
        spans = await spans_when(exporter, "POST /v1/chat/completions")
    roots = [span for span in spans if span.name == "POST /v1/chat/completions"]
    assert len(roots) == 2
    statuses = []
    for root in sorted(roots, key=lambda span: span.start_time):
        (upstream,) = [
            span
            for span in spans
            if span.parent is not None and span.parent.span_id == root.context.span_id
        ]
        assert upstream.name == "voxgate.upstream"
        assert upstream.kind == SpanKind.CLIENT
        statuses.append(upstream.attributes["voxgate.upstream.status"])
    assert statuses == ["200", "401"]


class _Collector(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args) -> None:  # quiet
        pass


def test_the_otlp_endpoint_of_the_environment_receives_the_spans(plugins):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    _Collector.received = []
    collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=collector.serve_forever, daemon=True)
    thread.start()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_port}",
        "OTEL_SERVICE_NAME": "voxgate-test",
    }
    try:
        app = build_test_app(FAKE_TOML, plugins, environ=env)
        with served(app) as address:
            upload = {"file": ("a.wav", wav_bytes(tone(1.0)), "audio/wav")}
            response = httpx.post(
                f"http://{address}/v1/audio/transcriptions",
                data={"model": "whisper-1"},
                files=upload,
                timeout=10,
            )
            assert response.status_code == 200
        # the app's shutdown flushed its spans to the collector
    finally:
        collector.shutdown()
        thread.join(timeout=5)
        collector.server_close()
    assert _Collector.received, "nothing was exported"
    names = set()
    for path, body in _Collector.received:
        assert path == "/v1/traces"
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}[
                "service.name"
            ]
            assert service == "voxgate-test"
            names |= {span.name for scope in resource_spans.scope_spans for span in scope.spans}
    assert {
        "POST /v1/audio/transcriptions",
        "voxgate.decode",
        "voxgate.queue_wait",
        "voxgate.engine_run",
    } <= names
