"""``create_app(config, pm)``: the only place voxgate is wired together."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import structlog
from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin

from voxgate import __version__
from voxgate.api.chat import chat_completions
from voxgate.api.client_secrets import create_client_secret
from voxgate.api.health import health, ready
from voxgate.api.live import live_transcription
from voxgate.api.metrics import metrics
from voxgate.api.models import audio_models, models_list, models_retrieve
from voxgate.api.openapi import DocumentRenderPlugin
from voxgate.api.playground import playground_files, playground_page
from voxgate.api.plugins import plugins_list
from voxgate.api.realtime import realtime
from voxgate.api.realtime_calls import close_all as close_calls
from voxgate.api.realtime_calls import create_call, hangup_call
from voxgate.api.requests import VoxgateRequest
from voxgate.api.speech import create_speech
from voxgate.api.transcriptions import transcriptions, translations
from voxgate.context import ROUTE_CONTEXT, RouteContext
from voxgate.errors import exception_handlers
from voxgate.middleware import (
    ApiKeyMiddleware,
    DrainMiddleware,
    RequestContextMiddleware,
    SendTimeoutMiddleware,
    TelemetryMiddleware,
)
from voxgate.plugins.hooks import Hooks
from voxgate.runtime import Runtime, build_runtime
from voxgate.services.realtime import client_secrets
from voxgate.telemetry import build_telemetry

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from litestar.types import ASGIApp, ControllerRouterHandler
    from opentelemetry.trace import TracerProvider

    from voxgate.config import ServerConfig
    from voxgate.plugins.manager import PluginManager

log = structlog.get_logger("voxgate.app")

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def create_app(
    config: ServerConfig,
    pm: PluginManager,
    *,
    environ: Mapping[str, str] | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Litestar:
    """Build the Litestar app for ``config`` with the plugins in ``pm``.

    Engines are created here and loaded in the lifespan (preload) or on first use. Traces
    follow the ``OTEL_*`` variables of ``environ`` (default ``os.environ``), unless a
    ``tracer_provider`` is given.
    """
    env = os.environ if environ is None else environ
    hooks = Hooks(pm)
    telemetry = build_telemetry(config, env, tracer_provider=tracer_provider)
    runtime = build_runtime(config, hooks, telemetry)
    keys = config.api_keys(environ)
    metrics_mode = config.server.metrics

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await runtime.start()
        _log_serving(runtime, auth=bool(keys))
        try:
            yield
        finally:
            await close_calls(runtime)
            await runtime.aclose()

    route_context = RouteContext(runtime)

    def provide_runtime() -> Runtime:
        return runtime

    def provide_route_context() -> RouteContext:
        return route_context

    cors = CORSConfig(allow_origins=config.server.cors_origins, expose_headers=["x-request-id"])
    handlers: list[ControllerRouterHandler] = [
        health,
        ready,
        models_list,
        models_retrieve,
        audio_models,
        plugins_list,
        transcriptions,
        translations,
        live_transcription,
        create_speech,
        chat_completions,
        realtime,
        create_client_secret,
        create_call,
        hangup_call,
        playground_page,
        playground_files,
    ]
    if metrics_mode != "off":
        handlers.append(metrics)
    app = Litestar(
        route_handlers=handlers,
        dependencies={
            "runtime": Provide(provide_runtime, sync_to_thread=False),
            # plugin routes get this narrow view instead of the runtime (voxgate.RouteContext)
            ROUTE_CONTEXT: Provide(provide_route_context, sync_to_thread=False),
        },
        exception_handlers=exception_handlers(),
        request_class=VoxgateRequest,
        middleware=[
            ApiKeyMiddleware(
                keys,
                also_protected=["/metrics"] if metrics_mode == "key" else [],
                client_secrets=client_secrets.store_of(runtime),
            )
        ],
        cors_config=cors if config.server.cors_origins else None,
        request_max_body_size=config.server.max_upload_bytes,
        plugins=hooks.litestar_plugins(config),
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="voxgate",
            version=__version__,
            path="/docs",
            render_plugins=[ScalarRenderPlugin(), DocumentRenderPlugin()],
        ),
        logging_config=None,
    )
    app.state.runtime = runtime
    app.state[ROUTE_CONTEXT] = route_context  # RouteContext.of(app), for plugin listeners
    inner: ASGIApp = DrainMiddleware(app.asgi_handler, runtime.drain)
    if telemetry.enabled:
        inner = TelemetryMiddleware(inner, telemetry)
    app.asgi_handler = SendTimeoutMiddleware(
        RequestContextMiddleware(inner, drain_limit=4 * config.server.max_upload_bytes),
        timeout=config.server.send_timeout,
    )
    return app


def _log_serving(runtime: Runtime, *, auth: bool) -> None:
    config = runtime.config
    server = config.server
    url = f"http://{server.host}:{server.port}"
    log.info(
        "voxgate serving",
        url=url,
        models=config.model_ids(),
        stt=list(runtime.pool.stt),
        tts=list(runtime.pool.tts),
        chat=list(runtime.chat),
        auth="api-key" if auth else "open",
        config=config.source,
    )
    if not auth and server.host not in LOOPBACK_HOSTS:
        log.warning(
            "no API keys configured and listening beyond loopback: anyone who can reach "
            "this port can use it; set VOXGATE_API_KEYS",
            host=server.host,
        )
