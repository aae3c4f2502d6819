"""The app's request class: a JSON body nested too deeply is a 400, never a 500.

msgspec decodes nesting by recursion and raises ``RecursionError`` past the interpreter's
limit, which Litestar does not expect from a decoder; every JSON body handler (speech, chat,
plugins' routes such as the voice mapping) reads its body through ``Request.json``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from voxgate.errors import InvalidRequestError
from voxgate.wire.decoding import TOO_DEEP


class VoxgateRequest(Request[Any, Any, Any]):
    """Litestar's request, with JSON bodies that cannot be decoded always a client error."""

    async def json(self) -> Any:
        """The decoded body; ``400`` when it is nested deeper than the decoder can go."""
        try:
            return await super().json()
        except RecursionError:
            raise InvalidRequestError(f"The JSON body is {TOO_DEEP}.") from None
