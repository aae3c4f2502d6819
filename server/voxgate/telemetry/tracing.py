"""OpenTelemetry traces: imported only when the ``otel`` extra is installed and asked for.

``voxgate.telemetry`` decides from OpenTelemetry's standard environment variables whether
traces are wanted, and only then imports this module (and with it ``opentelemetry``). The
tracer provider belongs to the app: it is built here from the environment (or handed to
``create_app``), never installed as OpenTelemetry's global one, and shut down with the app.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import structlog
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from voxgate import __version__

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from litestar.types import Scope
    from opentelemetry.trace import Span
    from opentelemetry.util.types import AttributeValue

log = structlog.get_logger("voxgate.telemetry")

SERVER_ERROR_MIN = 500


class Tracing:
    """Spans for one app, from its own tracer provider."""

    def __init__(self, provider: trace.TracerProvider, *, owned: bool) -> None:
        self.provider = provider
        self._owned = owned  # built here from the environment: shut down with the app
        self._tracer = provider.get_tracer("voxgate", __version__)

    @contextmanager
    def span(self, name: str, attributes: Mapping[str, AttributeValue]) -> Iterator[Span]:
        """A child of the current span, current itself inside the block."""
        with self._tracer.start_as_current_span(name, attributes=attributes) as span:
            yield span

    def start(
        self, name: str, attributes: Mapping[str, AttributeValue], *, client: bool = False
    ) -> Span:
        """A child of the current span that the caller ends (work that outlives a block)."""
        kind = SpanKind.CLIENT if client else SpanKind.INTERNAL
        return self._tracer.start_span(name, kind=kind, attributes=attributes)

    @contextmanager
    def server(self, scope: Scope) -> Iterator[Span]:
        """The span of one request, continuing the caller's trace (``traceparent``) if any."""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = str(scope.get("method", "WS"))
        span = self._tracer.start_span(
            method,
            context=propagate.extract(headers),
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "url.path": scope["path"],
                "voxgate.request_id": str(scope.get("state", {}).get("request_id", "")),
            },
        )
        with trace.use_span(span, end_on_exit=True):
            context = span.get_span_context()
            if context.is_valid:
                structlog.contextvars.bind_contextvars(trace_id=format(context.trace_id, "032x"))
            yield span

    def finish_server(self, span: Span, method: str, route: str | None, status: int) -> None:
        """Name the request span by its route and give it the response status."""
        span.update_name(f"{method} {route}" if route else method)
        if route:
            span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if status >= SERVER_ERROR_MIN:
            span.set_status(Status(StatusCode.ERROR))

    def shutdown(self) -> None:
        """Flush and stop the exporters of a provider this module built."""
        if self._owned and isinstance(self.provider, TracerProvider):
            self.provider.shutdown()


def from_environment(environ: Mapping[str, str]) -> Tracing | None:
    """A provider exporting as ``OTEL_TRACES_EXPORTER`` says (default ``otlp``), or None."""
    exporters = [
        exporter
        for name in (environ.get("OTEL_TRACES_EXPORTER") or "otlp").split(",")
        if (exporter := _exporter(name.strip().lower(), environ)) is not None
    ]
    if not exporters:
        return None
    resource = Resource.create(
        {
            "service.name": environ.get("OTEL_SERVICE_NAME") or "voxgate",
            "service.version": __version__,
        }
    )
    provider = TracerProvider(resource=resource)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return Tracing(provider, owned=True)


def _exporter(name: str, environ: Mapping[str, str]) -> SpanExporter | None:
    if name in {"", "none"}:
        return None
    if name == "console":
        return ConsoleSpanExporter()
    if name != "otlp":
        log.warning("unsupported OTEL_TRACES_EXPORTER; use otlp or console", exporter=name)
        return None
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if protocol == "grpc":
        return _grpc_exporter(environ)
    if protocol != "http/protobuf":
        log.warning("unsupported OTLP protocol; using http/protobuf", protocol=protocol)
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
    except ImportError:
        log.warning(
            "OTLP trace export needs opentelemetry-exporter-otlp-proto-http: "
            "pip install 'voxgate[otel]'"
        )
        return None
    options: dict[str, Any] = {}
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if not endpoint and environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        endpoint = environ["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
    if endpoint:
        options["endpoint"] = endpoint
    return OTLPSpanExporter(**options)


def _grpc_exporter(environ: Mapping[str, str]) -> SpanExporter | None:
    """OTLP over gRPC, when its exporter is installed (it is not part of the ``otel`` extra)."""
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs opentelemetry-exporter-otlp-proto-grpc; "
            "no traces are exported"
        )
        return None
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    exporter: SpanExporter = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
    return exporter
