"""Live audio in: decode the client's frames, resample to 16 kHz, and judge voice activity.

Runs in a worker thread, one batch of frames at a time, so the event loop never waits on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import soxr

from voxgate.services.realtime.audio import StreamDecoder
from voxgate.services.realtime.vad import VAD_RATE, TurnDetector, TurnEvent, TurnSettings

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from voxgate.wire.live import LiveConfig

SAMPLES_PER_MS = VAD_RATE // 1000


@dataclass(frozen=True)
class Step:
    """What one batch of frames gave: 16 kHz samples, turn events, and the VAD's clock."""

    samples: NDArray[np.float32]
    events: list[TurnEvent]
    position: int  # samples judged by the VAD (whole 32 ms windows)
    speech_end: int  # where the latest speech window ended


class Ingest:
    """Decode, resample and judge audio; called with each batch, in arrival order."""

    def __init__(self, config: LiveConfig) -> None:
        self._decoder = StreamDecoder(config.encoding)
        self._resampler = (
            None
            if config.sample_rate == VAD_RATE
            else soxr.ResampleStream(config.sample_rate, VAD_RATE, 1, dtype="float32")
        )
        self._detector = TurnDetector(
            TurnSettings(
                threshold=config.threshold,
                prefix_padding_ms=config.prefix_padding_ms,
                silence_duration_ms=config.silence_duration_ms,
            )
        )

    def __call__(self, data: bytes, *, last: bool) -> Step:
        samples = self._decoder.decode(data)
        if self._resampler is not None:
            samples = np.asarray(self._resampler.resample_chunk(samples, last=last), np.float32)
        detector = self._detector
        events = detector.feed(samples)
        return Step(
            samples=samples,
            events=events,
            position=detector.position_ms * SAMPLES_PER_MS,
            speech_end=detector.speech_end_ms * SAMPLES_PER_MS,
        )
