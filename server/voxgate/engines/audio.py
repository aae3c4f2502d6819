"""``PcmAudio``: the one audio type between transcoders and engines (float32 mono + rate)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import soxr

if TYPE_CHECKING:
    from collections.abc import Iterable

    from numpy.typing import NDArray

_INT16_SCALE = 32768.0


@dataclass(frozen=True, slots=True)
class PcmAudio:
    """Mono float32 samples in [-1, 1] at ``sample_rate`` Hz.

    Engines consume and produce this; transcoders convert it from and to bytes. Keeping one
    representation means resampling and format conversion happen in exactly one place.
    """

    samples: NDArray[np.float32]
    sample_rate: int

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples)
        if samples.ndim != 1:
            msg = f"PcmAudio is mono: expected a 1-D array, got shape {samples.shape}"
            raise ValueError(msg)
        if samples.dtype != np.float32:
            samples = samples.astype(np.float32)
        if self.sample_rate <= 0:
            msg = f"sample_rate must be positive, got {self.sample_rate}"
            raise ValueError(msg)
        object.__setattr__(self, "samples", samples)

    @classmethod
    def silence(cls, seconds: float, sample_rate: int) -> PcmAudio:
        """``seconds`` of zeros."""
        return cls(np.zeros(round(seconds * sample_rate), dtype=np.float32), sample_rate)

    @classmethod
    def from_pcm16(cls, data: bytes, sample_rate: int, channels: int = 1) -> PcmAudio:
        """Decode signed 16-bit little-endian PCM, downmixing interleaved channels."""
        return cls.from_pcm(data, sample_rate, channels, width=2)

    @classmethod
    def from_pcm(cls, data: bytes, sample_rate: int, channels: int = 1, *, width: int) -> PcmAudio:
        """Decode interleaved PCM of ``width`` bytes a sample, downmixing channels to mono.

        8-bit PCM is unsigned (WAV's convention), 16, 24 and 32-bit are signed little-endian:
        what raw-audio protocols such as Wyoming allow. A trailing partial frame is dropped.
        """
        usable = len(data) - len(data) % (width * channels)
        raw = np.frombuffer(data[:usable], dtype=np.uint8)
        if width == 1:
            samples = (raw.astype(np.float32) - 128.0) / 128.0
        elif width == 2:  # noqa: PLR2004
            samples = raw.view("<i2").astype(np.float32) / _INT16_SCALE
        elif width == 3:  # noqa: PLR2004
            triples = raw.reshape(-1, 3).astype(np.int32)
            ints = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
            ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
            samples = ints.astype(np.float32) / float(1 << 23)
        elif width == 4:  # noqa: PLR2004
            samples = (raw.view("<i4").astype(np.float64) / float(1 << 31)).astype(np.float32)
        else:
            msg = f"PCM sample width must be 1 to 4 bytes, got {width}"
            raise ValueError(msg)
        if channels > 1:
            samples = samples.reshape(-1, channels).mean(axis=1, dtype=np.float32)
        return cls(samples, sample_rate)

    @classmethod
    def concat(cls, chunks: Iterable[PcmAudio], sample_rate: int) -> PcmAudio:
        """Join chunks, resampling any that are at another rate."""
        parts = [chunk.resample(sample_rate).samples for chunk in chunks]
        if not parts:
            return cls(np.zeros(0, dtype=np.float32), sample_rate)
        return cls(np.concatenate(parts), sample_rate)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate

    def __len__(self) -> int:
        return len(self.samples)

    def resample(self, sample_rate: int) -> PcmAudio:
        """The same audio at ``sample_rate`` (soxr, high quality); a no-op at the same rate."""
        if sample_rate == self.sample_rate:
            return self
        if len(self.samples) == 0:
            return PcmAudio(self.samples, sample_rate)
        out = soxr.resample(self.samples, self.sample_rate, sample_rate, quality="HQ")
        return PcmAudio(np.asarray(out, dtype=np.float32), sample_rate)

    def to_pcm16(self) -> bytes:
        """Signed 16-bit little-endian bytes, clipped to full scale."""
        clipped = np.clip(self.samples, -1.0, 32767.0 / _INT16_SCALE)
        return (clipped * _INT16_SCALE).astype("<i2").tobytes()
