"""OpenAI's error envelope: ``{"error": {"message", "type", "param", "code"}}``, all four keys."""

from __future__ import annotations

import msgspec


class ErrorDetail(msgspec.Struct, frozen=True):
    """The inner error object; ``param`` and ``code`` are sent as ``null`` when unknown."""

    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(msgspec.Struct, frozen=True):
    """What every failure path answers, HTTP and SSE alike."""

    error: ErrorDetail
