"""The server-wide cap on decoded upload audio in memory (``[server] max_decoded_audio_bytes``).

The engine queues bound how many requests run, not how much audio they hold: an engine that
reads uploads whole holds a four-hour upload as 900 MB of float32. Every transcription
reserves what its engine will hold (two windows, or the whole upload) once the queue has
admitted it and before anything is decoded; a request that does not fit gets 503 with
``Retry-After``, one that could never fit gets 400.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from voxgate.errors import InvalidRequestError, ServiceUnavailableError

if TYPE_CHECKING:
    from collections.abc import Callable

BYTES_PER_SAMPLE = 4  # float32


class DecodedAudioBudget:
    """Bytes of decoded audio held by requests in flight, against one limit; thread-safe."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def reserve(self, size: int, *, retry_after: int) -> Callable[[], None]:
        """Take ``size`` bytes, returning the callable that gives them back (once).

        Raises ``ServiceUnavailableError`` (503) while other requests hold too much, and
        ``InvalidRequestError`` (400) when ``size`` alone is over the limit.
        """
        if size > self.limit:
            raise InvalidRequestError(
                f"The audio is too long for this server: decoding it needs {_mb(size)}, and "
                f"the server holds at most {_mb(self.limit)} of decoded audio "
                "(`[server] max_decoded_audio_bytes`). Send a shorter file.",
                param="file",
                code="audio_too_long",
            )
        with self._lock:
            if self.held + size > self.limit:
                raise ServiceUnavailableError(
                    "The server is decoding as much audio as it holds at once "
                    f"({_mb(self.limit)}, `[server] max_decoded_audio_bytes`). Retry after the "
                    "delay in the Retry-After header.",
                    code="decoded_audio_limit",
                    headers={"Retry-After": str(retry_after)},
                )
            self.held += size
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if not released:
                    released = True
                    self.held -= size

        return release


def _mb(size: int) -> str:
    return f"{size / 1_000_000:,.0f} MB"
