"""One instrumentation seam for metrics and traces: a ``Telemetry`` per app.

The pool and the services call it once where the work happens: pool admission, engine loads
and runs, decoding and encoding, first audio, WebSocket sessions, upstream calls. Each call
feeds both the Prometheus metrics (``voxgate.telemetry.metrics``, unless ``[server] metrics``
is ``"off"``) and the OpenTelemetry spans (``voxgate.telemetry.tracing``, when the ``otel``
extra is installed and OpenTelemetry's standard ``OTEL_*`` variables ask for traces). With
neither, every call is a no-op, and neither the metrics module nor ``opentelemetry`` is
imported.

Span names (children of the request's ``{method} {route}`` span): ``voxgate.decode``,
``voxgate.queue_wait``, ``voxgate.engine_load``, ``voxgate.engine_run``, ``voxgate.encode``,
``voxgate.upstream``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import structlog
from litestar.enums import ScopeType

from voxgate.errors import OpenAIError

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
    from contextlib import AbstractContextManager

    from litestar.types import Scope
    from opentelemetry.trace import TracerProvider

    from voxgate.config import ServerConfig
    from voxgate.engines.pool import EnginePool
    from voxgate.telemetry.metrics import Direction, Metrics, RejectReason, SocketKind
    from voxgate.telemetry.tracing import Tracing

log = structlog.get_logger("voxgate.telemetry")

T = TypeVar("T")
R = TypeVar("R")

DECODE = "voxgate.decode"
QUEUE_WAIT = "voxgate.queue_wait"
ENGINE_LOAD = "voxgate.engine_load"
ENGINE_RUN = "voxgate.engine_run"
ENCODE = "voxgate.encode"
UPSTREAM = "voxgate.upstream"
INSTANCE = "voxgate.instance"

UNMATCHED_ROUTE = "unmatched"  # the `route` label of requests no route handler answered
OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
WEBSOCKET_ACCEPTED = 101
WEBSOCKET_REFUSED = 403  # a socket closed before it was accepted: ASGI's refusal


class _Span(Protocol):
    """What the seam does with a span it ends itself (an OpenTelemetry ``Span``)."""

    def set_attribute(self, key: str, value: str | float) -> None: ...

    def end(self) -> None: ...


class RequestObservation:
    """The response status of one request, filled in by the middleware as it goes out."""

    __slots__ = ("status",)

    def __init__(self) -> None:
        self.status: int | None = None


class Telemetry:
    """Metrics and traces for one app; every method is cheap, and free when both are off."""

    def __init__(self, metrics: Metrics | None = None, tracing: Tracing | None = None) -> None:
        self.metrics = metrics
        self.tracing = tracing

    @property
    def enabled(self) -> bool:
        """Whether anything is collected at all (else the request layer is not installed)."""
        return self.metrics is not None or self.tracing is not None

    def watch_pool(self, pool: EnginePool) -> None:
        """Export the gauges that mirror ``pool`` (read at scrape time)."""
        if self.metrics is not None:
            self.metrics.watch_pool(pool)

    async def aclose(self) -> None:
        """Flush and stop the trace exporters this app started."""
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)

    def _span(self, name: str, **attributes: str) -> AbstractContextManager[object]:
        if self.tracing is None:
            return nullcontext()
        return self.tracing.span(name, attributes)

    # -- requests ---------------------------------------------------------------------------

    @contextmanager
    def request(self, scope: Scope) -> Iterator[RequestObservation]:
        """Around one HTTP request or WebSocket: its span, count and duration by route."""
        observed = RequestObservation()
        started = time.perf_counter()
        server = self.tracing.server(scope) if self.tracing is not None else nullcontext(None)
        with server as span:
            try:
                yield observed
            except BaseException:
                if observed.status is None:
                    observed.status = 500
                raise
            finally:
                status = observed.status or 500
                template = scope.get("path_template") if scope.get("route_handler") else None
                if span is not None and self.tracing is not None:
                    method = str(scope.get("method", "WS"))
                    self.tracing.finish_server(span, method, template, status)
                if self.metrics is not None:
                    route = template or UNMATCHED_ROUTE
                    self.metrics.requests.labels(route, str(status)).inc()
                    if scope["type"] == ScopeType.HTTP:
                        self.metrics.request_duration.labels(route).observe(
                            time.perf_counter() - started
                        )

    # -- the engine pool --------------------------------------------------------------------

    def rejected(self, instance: str, reason: RejectReason) -> None:
        """An instance turned a request away: ``queue_full`` (429) or ``queue_timeout`` (503)."""
        if self.metrics is not None:
            self.metrics.rejected.labels(instance, reason).inc()

    def queue_wait(self, instance: str) -> AbstractContextManager[object]:
        """Around the wait for a slot."""
        return self._span(QUEUE_WAIT, **{INSTANCE: instance})

    def loading(self, instance: str) -> AbstractContextManager[object]:
        """Around an engine load (its time is the pool's ``load_seconds``, read at scrape)."""
        return self._span(ENGINE_LOAD, **{INSTANCE: instance})

    def engine_run(
        self, instance: str, direction: Direction, *, audio: float = 0.0
    ) -> EngineRun | None:
        """One run holding an engine slot (``None``: nothing to observe)."""
        if not self.enabled:
            return None
        span = None
        if self.tracing is not None:
            span = self.tracing.start(ENGINE_RUN, {INSTANCE: instance})
        return EngineRun(self.metrics, instance, direction, audio, span)

    # -- the services -----------------------------------------------------------------------

    def decoding(self) -> AbstractContextManager[object]:
        """Around decoding an upload to PCM."""
        return self._span(DECODE)

    def encoding(self, instance: str) -> AbstractContextManager[object]:
        """Around encoding one piece of an instance's audio for the response."""
        return self._span(ENCODE, **{INSTANCE: instance})

    def first_audio(self, instance: str, seconds: float) -> None:
        """The first audio of a speech response or realtime answer is ready to go out."""
        if self.metrics is not None:
            self.metrics.first_audio.labels(instance).observe(seconds)

    @contextmanager
    def websocket(self, kind: SocketKind) -> Iterator[None]:
        """While a WebSocket session of ``kind`` is open."""
        if self.metrics is None:
            yield
            return
        gauge = self.metrics.websockets.labels(kind)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    async def upstream(self, call: Awaitable[T]) -> T:
        """Await one chat upstream call (``ChatProxy.complete``), timed by its status."""
        if not self.enabled:
            return await call
        timer = _UpstreamTimer(self)
        status = "200"
        try:
            return await call
        except BaseException as exc:
            status = _status_of(exc)
            raise
        finally:
            timer.done(status)

    def upstream_stream(self, chunks: AsyncIterator[T]) -> AsyncIterator[T]:
        """A chat upstream stream (``ChatProxy.stream``), timed to its end by its status."""
        if not self.enabled:
            return chunks
        return self._timed_stream(chunks)

    async def _timed_stream(self, chunks: AsyncIterator[T]) -> AsyncGenerator[T, None]:
        timer = _UpstreamTimer(self)
        status = "200"
        try:
            async for chunk in chunks:
                yield chunk
        except BaseException as exc:
            status = _status_of(exc)
            raise
        finally:
            try:
                aclose = getattr(chunks, "aclose", None)
                if aclose is not None:
                    await aclose()
            finally:
                timer.done(status)


class EngineRun:
    """One run on an engine slot: its span, compute time and audio, observed when it ends.

    Compute is the time spent in the engine's own calls in the worker thread (never the
    time a stream waits for its consumer), so ``compute / audio`` is the real-time factor,
    observed when the slot is free. Audio ``out`` is counted as each piece comes out of the
    engine, however the run ends; audio ``in`` once the run has finished (a transcription cut
    short transcribed less than its upload).
    """

    __slots__ = ("_metrics", "_span", "audio", "completed", "compute", "direction", "instance")

    def __init__(
        self,
        metrics: Metrics | None,
        instance: str,
        direction: Direction,
        audio: float,
        span: _Span | None,
    ) -> None:
        self._metrics = metrics
        self._span = span
        self.instance = instance
        self.direction = direction
        self.audio = audio
        self.compute = 0.0
        self.completed = False

    def timed(self, call: Callable[[Any], R]) -> Callable[[Any], R]:
        """``call`` with its time added to the compute time (runs in the worker)."""

        def timed_call(engine: Any) -> R:
            started = time.perf_counter()
            try:
                return call(engine)
            finally:
                self.compute += time.perf_counter() - started

        return timed_call

    def steps(self, iterator: Iterator[T]) -> Iterator[T]:
        """``iterator`` with each step's time added to the compute time."""
        return _TimedSteps(iterator, self)

    def add_audio(self, seconds: float) -> None:
        """Seconds of audio the engine just produced."""
        self.audio += seconds
        if self._metrics is not None and self.direction == "out" and seconds > 0:
            self._metrics.audio_seconds.labels(self.instance, "out").inc(seconds)

    def complete(self) -> None:
        """The engine finished its work (rather than being stopped)."""
        if self.completed:
            return
        self.completed = True
        if self._metrics is not None and self.direction == "in" and self.audio > 0:
            self._metrics.audio_seconds.labels(self.instance, "in").inc(self.audio)

    def finish(self) -> None:
        """The slot is free: observe the run's real-time factor and end its span."""
        counted = self.audio > 0 and (self.completed or self.direction == "out")
        if self._metrics is not None and counted:
            self._metrics.realtime_factor.labels(self.instance).observe(self.compute / self.audio)
        if self._span is not None:
            self._span.set_attribute("voxgate.audio_seconds", round(self.audio, 3))
            self._span.set_attribute("voxgate.compute_seconds", round(self.compute, 3))
            self._span.end()


class _TimedSteps(Iterator[T]):
    """An engine's generator whose ``next()`` calls are timed; ``close()`` passes through."""

    def __init__(self, iterator: Iterator[T], run: EngineRun) -> None:
        self._iterator = iterator
        self._run = run

    def __next__(self) -> T:
        started = time.perf_counter()
        try:
            return next(self._iterator)
        finally:
            self._run.compute += time.perf_counter() - started

    def close(self) -> None:
        """Close the engine's generator (runs its ``finally``)."""
        closer = getattr(self._iterator, "close", None)
        if closer is not None:
            closer()


class _UpstreamTimer:
    def __init__(self, telemetry: Telemetry) -> None:
        self._metrics = telemetry.metrics
        self._span: _Span | None = None
        if telemetry.tracing is not None:
            self._span = telemetry.tracing.start(UPSTREAM, {}, client=True)
        self._started = time.perf_counter()

    def done(self, status: str) -> None:
        if self._metrics is not None:
            seconds = time.perf_counter() - self._started
            self._metrics.upstream_duration.labels(status).observe(seconds)
        if self._span is not None:
            self._span.set_attribute("voxgate.upstream.status", status)
            self._span.end()


def _status_of(exc: BaseException) -> str:
    """The ``status`` label of an upstream call that raised."""
    if isinstance(exc, OpenAIError):
        return str(exc.status_code)
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        return "cancelled"
    return "500"


def traces_requested(environ: Mapping[str, str]) -> bool:
    """Whether OpenTelemetry's standard variables ask for traces."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = environ.get("OTEL_TRACES_EXPORTER")
    if exporters is not None:
        return any(name.strip().lower() not in {"", "none"} for name in exporters.split(","))
    return any(environ.get(name) for name in OTLP_ENDPOINTS)


def build_telemetry(
    config: ServerConfig,
    environ: Mapping[str, str],
    *,
    tracer_provider: TracerProvider | None = None,
) -> Telemetry:
    """The app's telemetry: metrics unless ``[server] metrics = "off"``, traces if asked for.

    ``tracer_provider`` (tests, embedding) replaces the one built from ``OTEL_*`` variables;
    the app does not shut it down.
    """
    metrics = None
    if config.server.metrics != "off":
        from voxgate.telemetry.metrics import Metrics  # noqa: PLC0415

        metrics = Metrics()
    tracing = None
    if tracer_provider is not None:
        from voxgate.telemetry.tracing import Tracing  # noqa: PLC0415

        tracing = Tracing(tracer_provider, owned=False)
    elif traces_requested(environ):
        try:
            from voxgate.telemetry.tracing import from_environment  # noqa: PLC0415
        except ImportError:
            log.warning(
                "OTEL_* variables ask for traces, but OpenTelemetry is not installed: "
                "pip install 'voxgate[otel]'"
            )
        else:
            tracing = from_environment(environ)
    return Telemetry(metrics, tracing)


__all__ = [
    "EngineRun",
    "RequestObservation",
    "Telemetry",
    "build_telemetry",
    "traces_requested",
]
