"""Graceful shutdown: refuse new work, let running requests finish, end the rest cleanly.

On SIGTERM (or Ctrl-C; see ``voxgate.serving``) the server keeps listening while it drains,
so a load balancer polling ``/ready`` sees 503 at once and stops sending. Meanwhile new
requests get 503 with ``Retry-After`` in the error envelope, and so do requests still waiting
for an engine slot; running requests get ``shutdown_timeout`` seconds to finish. Those still
running at the deadline are cancelled and end with the same error (an SSE error event when
their stream has started). Then the server stops.

WebSocket sessions do not finish on their own: new handshakes are refused (503) at once, and
the open ones are closed with 1012 (service restart) once the HTTP requests have drained, so
their clients reconnect to another instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import TYPE_CHECKING, Any

import structlog

from voxgate.errors import ServiceUnavailableError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from voxgate.engines.pool import EnginePool

log = structlog.get_logger("voxgate.drain")

DEADLINE_CANCEL = "voxgate: shutdown deadline passed"
ERROR_GRACE_SECONDS = 2.0  # for cancelled requests to send their error


class Drain:
    """The shutdown state of one app and the HTTP requests it is running."""

    def __init__(self, pool: EnginePool, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout
        self.draining = False
        self.deadline_passed = False
        self._requests: set[asyncio.Task[Any]] = set()
        self._sockets: set[asyncio.Task[Any]] = set()
        self.closing_sockets = False
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def running(self) -> int:
        """HTTP requests in flight."""
        return len(self._requests)

    def error(self) -> ServiceUnavailableError:
        """The 503 every request refused or ended by the drain gets."""
        return ServiceUnavailableError(
            "The server is shutting down; retry the request (on another instance, or after "
            "the delay in the Retry-After header).",
            code="server_shutting_down",
            headers={"Retry-After": str(max(1, math.ceil(self.timeout)))},
        )

    @contextlib.contextmanager
    def tracking(self) -> Iterator[None]:
        """Count the current task as a running request while the block runs."""
        self._idle.clear()
        try:
            with _holding(self._requests):
                yield
        finally:
            if not self._requests:
                self._idle.set()

    def socket(self) -> contextlib.AbstractContextManager[None]:
        """Count the current task as an open WebSocket session while the block runs."""
        return _holding(self._sockets)

    async def run(self) -> None:
        """Drain: refuse new and queued requests, wait for the rest, cancel what is left."""
        self.draining = True
        self.pool.refuse_waiting(self.error)
        log.info(
            "draining",
            running=self.running,
            websockets=len(self._sockets),
            shutdown_timeout=self.timeout,
        )
        try:
            if await self._idle_within(self.timeout):
                log.info("drained")
                return
            self.deadline_passed = True
            log.warning("shutdown deadline passed; ending running requests", running=self.running)
            for task in list(self._requests):
                task.cancel(DEADLINE_CANCEL)
            await self._idle_within(ERROR_GRACE_SECONDS)
        finally:
            await self._close_sockets()

    async def _close_sockets(self) -> None:
        """End the WebSocket sessions: each handler closes its socket with 1012."""
        sockets = list(self._sockets)
        if not sockets:
            return
        self.closing_sockets = True
        for task in sockets:
            task.cancel(DEADLINE_CANCEL)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ERROR_GRACE_SECONDS):
                await asyncio.gather(*sockets, return_exceptions=True)

    async def _idle_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._idle.wait()
        return not self._requests


@contextlib.contextmanager
def _holding(tasks: set[asyncio.Task[Any]]) -> Iterator[None]:
    """``tasks`` holds the current task while the block runs."""
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - ASGI apps always run in a task
        yield
        return
    tasks.add(task)
    try:
        yield
    finally:
        tasks.discard(task)
