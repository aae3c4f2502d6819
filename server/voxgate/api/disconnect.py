"""Cancel a handler's work when its client hangs up before the response starts.

Litestar watches for a disconnect only while it streams a response; a handler that computes
its whole answer first (a non-streamed transcription) would otherwise keep the engine busy
for a client that is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, TypeVar

from voxgate.errors import OpenAIError

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from litestar import Request

T = TypeVar("T")

HTTP_499_CLIENT_CLOSED_REQUEST = 499  # nginx's code; only the access log ever shows it


class ClientDisconnectedError(OpenAIError):
    """The client left before its response was ready; nobody reads the answer."""

    status_code = HTTP_499_CLIENT_CLOSED_REQUEST
    default_code = "client_closed_request"


async def unless_disconnected(request: Request[Any, Any, Any], work: Coroutine[Any, Any, T]) -> T:
    """``await work``, cancelled with ``ClientDisconnectedError`` if the client leaves first.

    Call it once the request body has been read: the only message left to receive is the
    disconnect.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    if task.done() and not task.cancelled():
        return task.result()
    with contextlib.suppress(asyncio.CancelledError):
        await task  # its cleanup (closing the engine stream) runs before we answer
    raise ClientDisconnectedError("The client closed the connection before the response.")


async def _disconnected(request: Request[Any, Any, Any]) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
