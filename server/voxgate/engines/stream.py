"""``PcmStream``: an upload's audio, decoded only as an engine reads it.

A 2.6 MB FLAC can hold four hours of silence: 900 MB as float32 at 16 kHz. Decoding it whole
before the engine queue admits the request let the queue bound nothing, so uploads reach the
engine as a stream of samples instead. An engine that reads it in windows
(``voxgate.windows``) holds one window at a time; one that reads it all (``read_all``, what
``SttEngine.transcribe_stream`` does by default) holds what the old path did.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from voxgate.engines.audio import PcmAudio

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from numpy.typing import NDArray

_EMPTY = np.zeros(0, dtype=np.float32)


class PcmStream:
    """Mono float32 samples at ``sample_rate``, pulled from a decoder as they are read.

    ``expected_seconds`` is what the container said before anything was decoded (``None``
    when it could not tell); ``duration`` is exact once the stream has been read to its end.
    Reading may raise ``AudioDecodeError`` (a file that turns out longer than allowed, or
    corrupt past its first packets). ``close()`` stops the decoder and runs ``on_close``
    callbacks (the server's decoded-audio budget): closing twice is harmless.
    """

    def __init__(
        self,
        chunks: Iterator[NDArray[np.float32]],
        sample_rate: int,
        *,
        expected_seconds: float | None = None,
    ) -> None:
        if sample_rate <= 0:
            msg = f"sample_rate must be positive, got {sample_rate}"
            raise ValueError(msg)
        self.sample_rate = sample_rate
        self.expected_seconds = expected_seconds
        self._chunks = chunks
        self._pending = _EMPTY  # decoded but not yet read
        self._read = 0  # samples handed out so far
        self._exhausted = False
        self._on_close: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_audio(cls, audio: PcmAudio) -> PcmStream:
        """Audio that is already decoded (raw PCM uploads, realtime turns, chat input)."""
        return cls(iter([audio.samples]), audio.sample_rate, expected_seconds=audio.duration)

    @property
    def exhausted(self) -> bool:
        """Read to the end: ``duration`` is exact."""
        return self._exhausted and len(self._pending) == 0

    @property
    def duration(self) -> float:
        """Seconds read so far; the whole length once ``exhausted``, else the expected one."""
        if not self.exhausted and self.expected_seconds is not None:
            return self.expected_seconds
        return self._read / self.sample_rate

    def read(self, count: int) -> NDArray[np.float32]:
        """The next ``count`` samples (fewer only at the end; empty once exhausted)."""
        first = self._pending[:count]
        parts = [first] if len(first) else []
        have = len(first)
        self._pending = self._pending[have:]
        while have < count and not self._exhausted:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._exhausted = True
                break
            take = chunk[: count - have]
            parts.append(take)
            have += len(take)
            self._pending = chunk[len(take) :]
        self._read += have
        if len(parts) <= 1:  # one piece is handed out as a view, never copied
            return parts[0] if parts else _EMPTY
        return np.concatenate(parts)

    def read_all(self) -> PcmAudio:
        """Everything left, decoded at once: what an engine without windows needs."""
        parts = [self._pending, *self._chunks]
        self._pending = _EMPTY
        self._exhausted = True
        samples = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self._read += len(samples)
        return PcmAudio(samples, self.sample_rate)

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once when the stream is closed (at once if it already is)."""
        with self._lock:
            if not self._closed:
                self._on_close.append(callback)
                return
        callback()

    def close(self) -> None:
        """Stop the decoder and release what the stream holds; safe from any thread, twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            callbacks, self._on_close = self._on_close, []
        self._pending = _EMPTY
        try:
            closer = getattr(self._chunks, "close", None)
            if closer is not None:
                closer()
        finally:
            for callback in callbacks:
                callback()
