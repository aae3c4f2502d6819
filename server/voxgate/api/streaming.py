"""``ClosingStream``: a Litestar ``Stream`` that closes its body however the response ends.

Litestar iterates the body with ``async for``; when ``send`` fails (a client that stopped
reading, see ``SendTimeoutMiddleware``) or the request is cancelled while a chunk is being
sent, the body generator is left suspended at its ``yield`` until the garbage collector finds
it, and with it the engine slot it holds. Closing it as the response ends frees the engine at
once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar.response import Stream
from litestar.response.streaming import ASGIStreamingResponse

if TYPE_CHECKING:
    from litestar.response.base import ASGIResponse
    from litestar.types import Receive, Send


class ClosingStream(Stream):
    """``Stream`` whose body generator is closed when the response ends, however it ends."""

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        """Litestar's streaming response, made to close its iterator at the end."""
        response = super().to_asgi_response(*args, **kwargs)
        if type(response) is ASGIStreamingResponse:
            response.__class__ = _ClosingStreamingResponse  # same slots: only send_body differs
        return response


class _ClosingStreamingResponse(ASGIStreamingResponse):
    __slots__ = ()

    async def send_body(self, send: Send, receive: Receive) -> None:
        try:
            await super().send_body(send, receive)
        finally:
            closer = getattr(self.iterator, "aclose", None)
            if closer is not None:
                await closer()
