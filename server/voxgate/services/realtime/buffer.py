"""Recent audio of a live session, addressed by its position since the session's first audio.

Voice activity reports positions since the first audio, so a turn's audio (from its padded
start to where speech stopped) can be cut out, and audio no turn can need any more is
dropped. The Realtime API session addresses it in milliseconds, the live transcription
session in samples; both keep the same chunks, never joined until a slice is asked for.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from voxgate.engines.audio import PcmAudio

if TYPE_CHECKING:
    from numpy.typing import NDArray


class AudioBuffer:
    """Float32 samples at one rate, from ``start`` to ``end`` (absolute sample indexes)."""

    def __init__(self, sample_rate: int, limit_seconds: float | None = None) -> None:
        self.sample_rate = sample_rate
        self.limit = None if limit_seconds is None else int(limit_seconds * sample_rate)
        self.start = 0
        self.end = 0  # samples ever appended: the session's audio clock
        self._chunks: deque[NDArray[np.float32]] = deque()

    # -- in samples ---------------------------------------------------------------------------

    def append(self, samples: NDArray[np.float32]) -> None:
        """Add audio at the end."""
        if len(samples):
            self._chunks.append(samples)
            self.end += len(samples)

    def slice(self, begin: int, end: int) -> NDArray[np.float32]:
        """A copy of samples ``begin:end`` (clamped to what is held)."""
        begin, end = max(begin, self.start), min(end, self.end)
        parts: list[NDArray[np.float32]] = []
        position = self.start
        for chunk in self._chunks:
            following = position + len(chunk)
            if following > begin and position < end:
                parts.append(chunk[max(0, begin - position) : min(len(chunk), end - position)])
            position = following
            if position >= end:
                break
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def trim(self, before: int) -> None:
        """Forget the samples before ``before``."""
        before = min(before, self.end)
        while self._chunks and self.start + len(self._chunks[0]) <= before:
            self.start += len(self._chunks.popleft())
        if self._chunks and self.start < before:
            self._chunks[0] = self._chunks[0][before - self.start :].copy()
            self.start = before
        self.start = max(self.start, before)

    @property
    def held(self) -> int:
        """Samples held."""
        return self.end - self.start

    def full(self, extra: int) -> bool:
        """Would ``extra`` more samples pass the limit?"""
        return self.limit is not None and self.held + extra > self.limit

    def clear(self) -> None:
        """Drop everything held (the clock keeps running)."""
        self.trim(self.end)

    # -- in milliseconds (the Realtime API's clock) ---------------------------------------------

    @property
    def received_ms(self) -> int:
        """Milliseconds of audio received since the session began."""
        return round(1000 * self.end / self.sample_rate)

    @property
    def buffered_ms(self) -> float:
        """Milliseconds of audio held."""
        return 1000.0 * self.held / self.sample_rate

    def drop_before(self, ms: int) -> None:
        """Forget the audio before ``ms`` (what no turn can need)."""
        self.trim(self._sample(ms))

    def take(self, until_ms: int | None = None) -> PcmAudio:
        """The audio up to ``until_ms`` (all of it when None), removed from the buffer."""
        cut = (
            self.end if until_ms is None else min(max(self._sample(until_ms), self.start), self.end)
        )
        samples = self.slice(self.start, cut)
        self.trim(cut)
        return PcmAudio(samples, self.sample_rate)

    def _sample(self, ms: int) -> int:
        return round(ms * self.sample_rate / 1000)
