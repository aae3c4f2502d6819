"""The input audio buffer of a realtime session, addressed in milliseconds of audio received.

Voice activity reports positions in ms since the session's first audio; the buffer keeps the
samples from some position on, so a turn's audio (from its padded start to where speech
stopped) can be cut out, and audio no turn can need any more is dropped.
"""

from __future__ import annotations

import numpy as np

from voxgate.engines.audio import PcmAudio


class AudioBuffer:
    """Float32 samples at one rate, from ``start`` (absolute sample index) on."""

    def __init__(self, sample_rate: int, limit_seconds: float) -> None:
        self.sample_rate = sample_rate
        self.limit = int(limit_seconds * sample_rate)
        self.start = 0
        self.received = 0  # samples ever appended: the session's audio clock
        self._chunks: list[np.ndarray] = []
        self._size = 0

    @property
    def received_ms(self) -> int:
        """Milliseconds of audio received since the session began."""
        return self._ms(self.received)

    @property
    def buffered_ms(self) -> float:
        """Milliseconds of audio held."""
        return 1000.0 * self._size / self.sample_rate

    def full(self, extra: int) -> bool:
        """Would ``extra`` more samples pass the limit?"""
        return self._size + extra > self.limit

    def append(self, samples: np.ndarray) -> None:
        """Add audio at the end."""
        if len(samples):
            self._chunks.append(samples)
            self._size += len(samples)
            self.received += len(samples)

    def drop_before(self, ms: int) -> None:
        """Forget the audio before ``ms`` (what no turn can need)."""
        cut = min(max(self._sample(ms) - self.start, 0), self._size)
        if cut:
            samples = self._joined()[cut:]
            self._chunks = [samples]
            self._size = len(samples)
            self.start += cut

    def take(self, until_ms: int | None = None) -> PcmAudio:
        """The audio up to ``until_ms`` (all of it when None), removed from the buffer."""
        samples = self._joined()
        cut = len(samples) if until_ms is None else self._sample(until_ms) - self.start
        cut = min(max(cut, 0), len(samples))
        self._chunks = [samples[cut:]]
        self._size = len(samples) - cut
        self.start += cut
        return PcmAudio(samples[:cut], self.sample_rate)

    def clear(self) -> None:
        """Drop everything held (the clock keeps running)."""
        self._chunks = []
        self._size = 0
        self.start = self.received

    def _joined(self) -> np.ndarray:
        if len(self._chunks) != 1:
            joined = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)
            self._chunks = [joined]
        return self._chunks[0]

    def _sample(self, ms: int) -> int:
        return round(ms * self.sample_rate / 1000)

    def _ms(self, samples: int) -> int:
        return round(1000 * samples / self.sample_rate)
