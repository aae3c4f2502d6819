"""The telemetry seam: what an engine run counts, when traces are on, and what they cost when off."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import FAKE_TOML
from voxgate import SpeechOptions, TranscribeOptions, VoiceChoice
from voxgate.plugins.hooks import Hooks
from voxgate.runtime import build_runtime
from voxgate.telemetry import Telemetry, traces_requested
from voxgate.telemetry.metrics import Metrics
from voxgate.testing import fakes
from voxgate.testing.app import build_test_config

REPO = Path(__file__).resolve().parents[2]


def observed_runtime(toml: str):
    config, pm = build_test_config(toml, [fakes])
    telemetry = Telemetry(Metrics())
    return build_runtime(config, Hooks(pm), telemetry), telemetry.metrics


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def settle(instance) -> None:
    """Until the slot is free: a run is observed then."""
    for _ in range(500):
        if not instance.active:
            await asyncio.sleep(0.01)  # the release callback runs just after
            return
        await asyncio.sleep(0.01)
    pytest.fail("the slot was never freed")


# -- what an engine run counts ------------------------------------------------------------------


async def test_a_finished_transcription_counts_its_audio_and_realtime_factor():
    runtime, metrics = observed_runtime('[stt.s]\nkind = "fake-stt"\ndelay = 0.05\n')
    instance = runtime.pool.stt["s"]
    audio = fakes.tone(2.0)
    stream = await instance.open_stream(
        lambda e: e.transcribe(audio, TranscribeOptions()), audio_in=audio.duration
    )
    assert len([segment async for segment in stream]) == 2
    await settle(instance)
    assert sample(metrics, "voxgate_audio_seconds_total", instance="s", direction="in") == 2.0
    assert sample(metrics, "voxgate_realtime_factor_count", instance="s") == 1
    rtf = sample(metrics, "voxgate_realtime_factor_sum", instance="s")
    assert 0.1 / 2.0 <= rtf < 0.5, "two steps of 0.05 s for 2 s of audio"
    await runtime.pool.close()


async def test_a_transcription_cut_short_counts_no_audio():
    runtime, metrics = observed_runtime('[stt.s]\nkind = "fake-stt"\n')
    instance = runtime.pool.stt["s"]
    audio = fakes.tone(3.0)
    stream = await instance.open_stream(
        lambda e: e.transcribe(audio, TranscribeOptions()), audio_in=audio.duration
    )
    await anext(stream)
    await stream.aclose()
    await settle(instance)
    assert sample(metrics, "voxgate_audio_seconds_total", instance="s", direction="in") == 0
    assert sample(metrics, "voxgate_realtime_factor_count", instance="s") is None
    await runtime.pool.close()


async def test_synthesis_counts_each_piece_as_it_comes_and_not_the_consumers_pauses():
    runtime, metrics = observed_runtime('[tts.t]\nkind = "fake-tts"\n')
    instance = runtime.pool.tts["t"]
    call = lambda e: e.synthesize("a b c d", VoiceChoice(voice_id="tone"), SpeechOptions())
    stream = await instance.open_stream(call, audio_out=lambda chunk: chunk.duration)
    await anext(stream)
    out = {"instance": "t", "direction": "out"}
    assert sample(metrics, "voxgate_audio_seconds_total", **out) == pytest.approx(0.1)
    await asyncio.sleep(0.3)  # a slow client: the engine waits, it does not work
    await anext(stream)
    await stream.aclose()  # the client leaves: what was made still counts
    await settle(instance)
    assert sample(metrics, "voxgate_audio_seconds_total", **out) == pytest.approx(0.2)
    assert sample(metrics, "voxgate_realtime_factor_count", instance="t") == 1
    assert sample(metrics, "voxgate_realtime_factor_sum", instance="t") < 1.0
    await runtime.pool.close()


async def test_blocking_runs_are_observed_too():
    runtime, metrics = observed_runtime('[stt.s]\nkind = "fake-stt"\n')
    instance = runtime.pool.stt["s"]
    audio = fakes.tone(1.0)
    segments = await instance.run(lambda e: list(e.transcribe(audio, TranscribeOptions())))
    assert len(segments) == 1
    assert sample(metrics, "voxgate_realtime_factor_count", instance="s") is None, "no audio"
    assert sample(metrics, "voxgate_engine_loaded", instance="s") == 1
    assert instance.load_seconds is not None
    load = sample(metrics, "voxgate_engine_load_seconds", instance="s")
    assert load == instance.load_seconds, "read from the pool when scraped"
    await runtime.pool.close()


def test_no_telemetry_observes_nothing():
    telemetry = Telemetry()
    assert not telemetry.enabled
    assert telemetry.engine_run("s", "in", audio=1.0) is None
    chunks = object()
    assert telemetry.upstream_stream(chunks) is chunks  # type: ignore[arg-type]


# -- when traces are on -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SERVICE_NAME": "voxgate"}, False),
    ],
)
def test_traces_follow_the_standard_variables(environ, wanted):
    assert traces_requested(environ) is wanted


def test_an_otlp_endpoint_builds_an_exporting_provider():
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider

    from voxgate.telemetry.tracing import from_environment

    tracing = from_environment(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/", "OTEL_SERVICE_NAME": "vg-1"}
    )
    assert tracing is not None
    provider = tracing.provider
    assert isinstance(provider, TracerProvider)
    assert provider.resource.attributes["service.name"] == "vg-1"
    processors = provider._active_span_processor._span_processors
    (exporter,) = [p.span_exporter for p in processors]
    assert isinstance(exporter, OTLPSpanExporter)
    assert exporter._endpoint == "http://collector:4318/v1/traces"
    tracing.shutdown()


def test_the_app_builds_its_tracer_from_the_environment_and_closes_it(plugins, monkeypatch):
    pytest.importorskip("opentelemetry.sdk")
    from litestar.testing import TestClient

    from voxgate.app import create_app

    env = {"OTEL_TRACES_EXPORTER": "console"}
    config, pm = build_test_config(FAKE_TOML, plugins, environ=env)
    app = create_app(config, pm, environ=env)
    tracing = app.state.runtime.telemetry.tracing
    assert tracing is not None
    shutdowns = []
    shutdown = tracing.provider.shutdown

    def recorded_shutdown() -> None:
        shutdowns.append(True)
        shutdown()  # flushes the request's span to the console (captured by pytest)

    monkeypatch.setattr(tracing.provider, "shutdown", recorded_shutdown)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert not shutdowns
    assert shutdowns == [True], "the provider is flushed and shut down with the app"


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**clean, **env},
        timeout=120,
        check=False,
    )


def test_without_otel_variables_opentelemetry_is_never_imported():
    # Litestar itself probes for its OpenTelemetry plugin when an app is made (a few
    # `opentelemetry.semconv` modules, when installed); voxgate imports nothing of it.
    done = _run(
        """
        import sys
        from litestar.testing import TestClient
        from tests.conftest import FAKE_TOML
        from voxgate.testing import build_test_app, fakes
        from voxgate.testing.fakes import tone, wav_bytes

        app = build_test_app(FAKE_TOML, [fakes], environ={})
        with TestClient(app) as client:
            upload = {"file": ("a.wav", wav_bytes(tone(1.0)), "audio/wav")}
            ok = client.post("/v1/audio/transcriptions", data={"model": "whisper-1"}, files=upload)
            assert ok.status_code == 200
            assert client.get("/metrics").status_code == 200
        heavy = ("opentelemetry.sdk", "opentelemetry.trace", "opentelemetry.exporter")
        loaded = sorted(m for m in sys.modules if m.startswith(heavy))
        assert not loaded, loaded
        assert "voxgate.telemetry.tracing" not in sys.modules
        assert app.state.runtime.telemetry.tracing is None
        print("clean")
        """
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "clean" in done.stdout


def test_otel_variables_without_the_extra_warn_and_serve():
    done = _run(
        """
        import sys
        sys.modules["opentelemetry"] = None  # as if the `otel` extra were not installed
        from litestar.testing import TestClient
        from tests.conftest import FAKE_TOML
        from voxgate.testing import build_test_app, fakes

        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
        app = build_test_app(FAKE_TOML, [fakes], environ=env)
        assert app.state.runtime.telemetry.tracing is None
        with TestClient(app) as client:
            assert client.get("/v1/models").status_code == 200
        print("served")
        """
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "served" in done.stdout
    assert "OpenTelemetry is not installed" in done.stdout + done.stderr
