"""JSON decoding for frames from clients: any undecodable input is ``msgspec.DecodeError``.

msgspec raises ``RecursionError`` for JSON nested past the interpreter's recursion limit;
callers that answer bad frames with an error event catch ``DecodeError`` only, so a deeply
nested frame would end the socket with an internal error instead.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")
TOO_DEEP = "nested too deeply"


def decode_json(data: str | bytes, decoder: msgspec.json.Decoder[T] | None = None) -> T | Any:
    """``data`` decoded (by ``decoder`` when given); ``DecodeError`` for anything malformed."""
    try:
        if decoder is None:
            return msgspec.json.decode(data)
        return decoder.decode(data)
    except RecursionError:
        msg = f"JSON is malformed: {TOO_DEEP}"
        raise msgspec.DecodeError(msg) from None
