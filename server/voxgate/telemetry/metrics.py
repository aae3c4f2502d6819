"""Every Prometheus metric voxgate exports: names, labels, types and help in this one module.

Names and labels are part of the public contract (``docs/self-hosting/metrics.md``): rename
nothing once released. Labels stay low-cardinality: route *templates*, instance names (the
``<name>`` of ``[stt.<name>]``), never model aliases, voices or raw paths. Each app has its own
``CollectorRegistry``, so several apps in one process (tests, embedding) never collide; the
global default registry is never touched.

The gauges that mirror the pool (queue depth, busy, loaded, last load time) are read from it
at scrape time by ``PoolCollector``, so they cannot drift from what the pool really holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from collections.abc import Iterable

    from prometheus_client.metrics_core import Metric

    from voxgate.engines.pool import EnginePool

Direction = Literal["in", "out"]
RejectReason = Literal["queue_full", "queue_timeout"]
SocketKind = Literal["realtime", "live"]

REJECT_REASONS: tuple[RejectReason, ...] = ("queue_full", "queue_timeout")
SOCKET_KINDS: tuple[SocketKind, ...] = ("realtime", "live")

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5, 10)
FIRST_AUDIO_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30)
UPSTREAM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """The registry of one app and every metric in it."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "voxgate_requests",
            "HTTP requests answered (and WebSocket handshakes), by route template and status.",
            ["route", "status"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "voxgate_request_duration_seconds",
            "Seconds from an HTTP request's arrival to the end of its response body.",
            ["route"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.rejected = Counter(
            "voxgate_engine_rejected",
            "Requests an engine instance turned away: queue_full (429), queue_timeout (503).",
            ["instance", "reason"],
            registry=registry,
        )
        self.audio_seconds = Counter(
            "voxgate_audio_seconds",
            "Seconds of audio engines processed: in (transcribed), out (synthesized).",
            ["instance", "direction"],
            registry=registry,
        )
        self.realtime_factor = Histogram(
            "voxgate_realtime_factor",
            "Engine compute seconds per second of audio, per engine run (below 1: faster "
            "than real time).",
            ["instance"],
            buckets=RTF_BUCKETS,
            registry=registry,
        )
        self.first_audio = Histogram(
            "voxgate_time_to_first_audio_seconds",
            "Seconds until the first audio of a speech response or realtime answer is ready "
            "to send.",
            ["instance"],
            buckets=FIRST_AUDIO_BUCKETS,
            registry=registry,
        )
        self.websockets = Gauge(
            "voxgate_websocket_sessions",
            "WebSocket sessions open now: realtime (/v1/realtime), live "
            "(/v1/audio/transcriptions-realtime).",
            ["kind"],
            registry=registry,
        )
        self.upstream_duration = Histogram(
            "voxgate_upstream_request_duration_seconds",
            "Seconds each chat upstream call took, to the end of a streamed answer, by status "
            "(the HTTP status, or `cancelled`).",
            ["status"],
            buckets=UPSTREAM_BUCKETS,
            registry=registry,
        )
        for kind in SOCKET_KINDS:
            self.websockets.labels(kind).set(0)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)

    def watch_pool(self, pool: EnginePool) -> None:
        """Export ``pool``'s gauges at scrape time; its counters start at zero, not absent."""
        self.registry.register(PoolCollector(pool))
        for name in pool.stt:
            self.audio_seconds.labels(name, "in")
        for name in pool.tts:
            self.audio_seconds.labels(name, "out")
        for instance in pool.instances:
            for reason in REJECT_REASONS:
                self.rejected.labels(instance.name, reason)

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The body and content type for a scrape that sent ``Accept: accept``."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type


class PoolCollector(Collector):
    """Queue depth, busy slots, load state and time of every engine instance, when scraped."""

    def __init__(self, pool: EnginePool) -> None:
        self._pool = pool

    def describe(self) -> Iterable[Metric]:
        """The families without samples (the registry checks names when registering)."""
        return self._families()

    def collect(self) -> Iterable[Metric]:
        """The families with one sample per instance, as the pool is now."""
        depth, busy, loaded, load_seconds = families = self._families()
        for instance in self._pool.instances:
            depth.add_metric([instance.name], instance.waiting)
            busy.add_metric([instance.name], instance.active)
            loaded.add_metric([instance.name], 1 if instance.state == "loaded" else 0)
            if instance.load_seconds is not None:
                load_seconds.add_metric([instance.name], instance.load_seconds)
        return families

    @staticmethod
    def _families() -> tuple[
        GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily
    ]:
        return (
            GaugeMetricFamily(
                "voxgate_engine_queue_depth",
                "Requests waiting for a slot of the engine instance.",
                labels=["instance"],
            ),
            GaugeMetricFamily(
                "voxgate_engine_busy",
                "Requests the engine instance is running now (at most its concurrency).",
                labels=["instance"],
            ),
            GaugeMetricFamily(
                "voxgate_engine_loaded",
                "1 while the engine instance is loaded, else 0.",
                labels=["instance"],
            ),
            GaugeMetricFamily(
                "voxgate_engine_load_seconds",
                "Seconds the engine instance's last successful load took (absent before one).",
                labels=["instance"],
            ),
        )
