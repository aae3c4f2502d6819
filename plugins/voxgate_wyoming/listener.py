"""The Wyoming TCP server in the app's lifespan, and its optional mDNS announcement."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import structlog
from litestar.plugins import InitPluginProtocol
from wyoming.server import AsyncTcpServer

from voxgate import RouteContext
from voxgate_wyoming.handler import WyomingHandler
from voxgate_wyoming.settings import bind_host

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from litestar import Litestar
    from litestar.config.app import AppConfig

    from voxgate import ServerConfig
    from voxgate_wyoming.settings import WyomingSettings

log = structlog.get_logger("voxgate.wyoming")

SERVICE_TYPE = "_wyoming._tcp.local."
WILDCARD_HOSTS = {"", "0.0.0.0", "::"}  # noqa: S104 - names, not a bind
STATE_KEY = "wyoming"
"""``app.state[STATE_KEY]``: the running ``WyomingListener`` (its ``port``), for tests."""


class WyomingListener:
    """The server, its connections and the mDNS announcement of one app."""

    def __init__(self, context: RouteContext, host: str, settings: WyomingSettings) -> None:
        self.context = context
        self.host = host
        self.settings = settings
        self.port = settings.port
        self._server = AsyncTcpServer(host, settings.port)
        self._connections: set[asyncio.Task[Any]] = set()
        self._zeroconf: Any = None

    def _handler(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> WyomingHandler:
        return _TrackedHandler(reader, writer, context=self.context, tasks=self._connections)

    async def start(self) -> None:
        """Listen, then announce (when configured)."""
        await self._server.start(self._handler)
        server = getattr(self._server, "_server", None)  # the bound port, for `port = 0`
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("wyoming serving", url=f"tcp://{self.host}:{self.port}")
        if self.settings.zeroconf:
            await self._announce()

    async def _announce(self) -> None:
        from zeroconf import IPVersion  # noqa: PLC0415 - optional: only with zeroconf = true
        from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf  # noqa: PLC0415

        name = self.settings.zeroconf_name or f"voxgate-{socket.gethostname()}"
        address = _announced_address(self.host)
        info = AsyncServiceInfo(
            SERVICE_TYPE,
            f"{name}.{SERVICE_TYPE}",
            addresses=[socket.inet_aton(address)],
            port=self.port,
        )
        zeroconf = AsyncZeroconf(ip_version=IPVersion.V4Only)
        await zeroconf.async_register_service(info)
        self._zeroconf = (zeroconf, info)
        log.info("wyoming announced", name=name, address=address, port=self.port)

    async def stop(self) -> None:
        """Withdraw the announcement, stop listening, end every connection."""
        if self._zeroconf is not None:
            zeroconf, info = self._zeroconf
            with contextlib.suppress(Exception):
                await zeroconf.async_unregister_service(info)
            await zeroconf.async_close()
        await self._server.stop()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)


class _TrackedHandler(WyomingHandler):
    """Records its task, so that shutdown can end connections still busy with the engines."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        context: RouteContext,
        tasks: set[asyncio.Task[Any]],
    ) -> None:
        super().__init__(reader, writer, context=context)
        self._tasks = tasks

    async def run(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await super().run()
        finally:
            if task is not None:
                self._tasks.discard(task)


def _announced_address(host: str) -> str:
    """The bound address, or for a wildcard bind the one mDNS traffic leaves from."""
    if host not in WILDCARD_HOSTS and host != "localhost":
        with contextlib.suppress(OSError):
            return socket.gethostbyname(host)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.setblocking(False)
        with contextlib.suppress(OSError):
            probe.connect(("224.0.0.251", 1))  # the mDNS group, as the reference servers do
            return str(probe.getsockname()[0])
    return "127.0.0.1"


class WyomingPlugin(InitPluginProtocol):
    """Adds the Wyoming server to the app's lifespan."""

    def __init__(self, config: ServerConfig, settings: WyomingSettings) -> None:
        self.host = bind_host(config, settings)
        self.settings = settings

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Start after the engine pool (voxgate's own lifespan comes first), stop before it."""
        app_config.lifespan.append(self._lifespan)
        return app_config

    @asynccontextmanager
    async def _lifespan(self, app: Litestar) -> AsyncIterator[None]:
        listener = WyomingListener(RouteContext.of(app), self.host, self.settings)
        await listener.start()
        app.state[STATE_KEY] = listener
        try:
            yield
        finally:
            await listener.stop()
