"""uvicorn's ``Server`` with voxgate's shutdown drain in front of its own shutdown.

uvicorn stops listening as soon as it gets SIGTERM, so a load balancer could not learn from
``/ready`` that the instance is going, and it lets requests still waiting for an engine wait
out the whole graceful timeout. Here the first SIGTERM or Ctrl-C runs ``Drain.run`` (see
``voxgate.drain``) while the server still listens, and only then hands over to uvicorn's
shutdown; a second signal hands over at once.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import uvicorn

if TYPE_CHECKING:
    import socket
    from types import FrameType

    from voxgate.drain import Drain


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose first exit signal drains the app before stopping."""

    def __init__(self, config: uvicorn.Config, drain: Drain) -> None:
        super().__init__(config)
        self.drain = drain
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_requested = False
        self._drain_task: asyncio.Task[None] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve until the drain (or a second signal) ends it."""
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """First signal: drain, then exit. Second signal (or no loop yet): uvicorn's exit now."""
        if self._drain_requested or self._loop is None or self.should_exit:
            super().handle_exit(sig, frame)
            return
        self._drain_requested = True
        # a signal handler interrupts the loop's own code: schedule, never run, loop work here
        self._loop.call_soon_threadsafe(self._start_drain, sig, frame)

    def _start_drain(self, sig: int, frame: FrameType | None) -> None:
        self._drain_task = asyncio.create_task(self._drain_then_exit(sig, frame))

    async def _drain_then_exit(self, sig: int, frame: FrameType | None) -> None:
        try:
            await self.drain.run()
        finally:
            super().handle_exit(sig, frame)
