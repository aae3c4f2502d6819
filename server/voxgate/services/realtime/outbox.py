"""The events waiting for one client: numbered, rendered for its protocol, and bounded.

A client that stops reading must not make the server hold its events without end: past
``limit`` queued events the outbox is *overflowed*, the session ends (the socket is closed
with 1008) and everything it held is freed. The socket side bounds each send with a
timeout for the same reason (``voxgate.api.realtime``).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from typing import TYPE_CHECKING

from voxgate.wire import realtime_events as wire

if TYPE_CHECKING:
    from voxgate.errors import OpenAIError

LIMIT = 4096  # events; an answer of a minute is ~300 audio deltas


class Outbox:
    """``send`` never blocks; ``next`` waits for the next frame to write."""

    def __init__(self, *, beta: bool, limit: int = LIMIT) -> None:
        self.beta = beta
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._limit = limit
        self._counter = itertools.count(1)
        self._prefix = secrets.token_hex(4)
        self.overflowed = False

    def send(self, event: wire.ServerEvent) -> None:
        """Queue ``event`` (dropped when the client's protocol has no such event)."""
        if self.overflowed:
            return
        event.event_id = f"event_{self._prefix}{next(self._counter)}"
        frame = wire.render(event, beta=self.beta)
        if frame is None:
            return
        if self._queue.qsize() >= self._limit:
            self.overflowed = True
            self._queue.put_nowait(None)  # tells the sender to give up
            return
        self._queue.put_nowait(frame)

    def error(self, error: OpenAIError, client_event_id: str | None = None) -> None:
        """Queue an ``error`` event; the session goes on."""
        self.send(wire.Error(error=detail(error, client_event_id)))

    async def next(self) -> bytes | None:
        """The next frame to send; None once the outbox overflowed."""
        if self.overflowed:
            return None
        return await self._queue.get()

    def pending(self) -> int:
        """Frames not yet taken by the sender."""
        return self._queue.qsize()


def detail(error: OpenAIError, client_event_id: str | None = None) -> wire.ErrorDetail:
    """An ``error`` event's error: which client event caused it, when one did."""
    return wire.ErrorDetail(
        type=error.error_type,
        code=error.code,
        message=error.message,
        param=error.param,
        event_id=client_event_id,
    )


def failure(error: OpenAIError) -> wire.ErrorDetail:
    """An error inside another event (``…transcription.failed``): no ``event_id``."""
    return wire.ErrorDetail(
        type=error.error_type, code=error.code, message=error.message, param=error.param
    )
