"""Drive an engine's sync generator in a worker thread as an async iterator.

Each ``next()`` runs in the instance's executor, so the event loop never blocks and work
stops between items when the consumer goes away (client disconnect, cancellation). The
generator is closed in a worker, after any step still running there, and only then is the
caller's ``on_done`` called: an instance never runs more generators than it has slots.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Iterator
    from concurrent.futures import Executor, Future

T = TypeVar("T")

_DONE = object()


def _step(iterator: Iterator[T]) -> object:
    try:
        return next(iterator)
    except StopIteration:
        return _DONE


async def iterate_in_worker(
    executor: Executor,
    iterator: Iterator[T],
    on_done: Callable[[], None] = lambda: None,
) -> AsyncGenerator[T, None]:
    """Yield the items of ``iterator``, each computed in ``executor``.

    Pass a fresh generator: calling a generator function runs none of its body, so creating
    it on the event loop is free. ``on_done`` runs on the event loop once the generator is
    finished or closed, whichever way the iteration ended.
    """
    loop = asyncio.get_running_loop()
    pending: Future[object] | None = None
    try:
        while True:
            pending = executor.submit(_step, iterator)
            item = await asyncio.wrap_future(pending)
            pending = None
            if item is _DONE:
                return
            yield item  # type: ignore[misc]
    finally:
        _close_after(executor, loop, iterator, pending, on_done)


def _close_after(
    executor: Executor,
    loop: asyncio.AbstractEventLoop,
    iterator: Iterator[object],
    pending: Future[object] | None,
    on_done: Callable[[], None],
) -> None:
    """Close ``iterator`` in the worker once ``pending`` settles, then ``on_done`` on the loop."""

    def finish() -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed at interpreter exit
            loop.call_soon_threadsafe(on_done)

    def close(_: object = None) -> None:
        closer = getattr(iterator, "close", None)
        if closer is None:
            finish()
            return

        def run_close() -> None:
            try:
                closer()
            finally:
                finish()

        try:
            executor.submit(run_close)
        except RuntimeError:  # executor shut down: close here rather than leak the slot
            run_close()

    if pending is not None and not pending.done():
        pending.add_done_callback(close)
    else:
        close()
