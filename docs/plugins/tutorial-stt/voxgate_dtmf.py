"""voxgate-dtmf: a speech-to-text engine for telephone keypad tones (DTMF)."""

import itertools
from collections.abc import Callable, Iterator
from typing import Annotated, ClassVar

import msgspec
import numpy as np
from numpy.typing import NDArray

from voxgate import (
    ConfigBase,
    InvalidRequestError,
    PcmAudio,
    Segment,
    SttCapabilities,
    SttEngine,
    TranscribeOptions,
    Word,
    hookimpl,
)

# A key sounds two tones at once: the frequency of its row and that of its column.
ROWS = (697.0, 770.0, 852.0, 941.0)
COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")

QUIET = 0.01  # a frame quieter than this (RMS; full scale is 1.0) is silence
BOTH_TONES = 0.8  # a key's two tones carry at least this share of its frame's energy ...
EACH_TONE = 0.1  # ... and each of them at least this share


def frame_key(frame: NDArray[np.float32], basis: NDArray[np.complex128]) -> str | None:
    """The key one frame of audio holds, or None (silence, speech, music, noise)."""
    energy = float(frame @ frame)
    if energy < len(frame) * QUIET**2:
        return None
    # Each tone's share of the frame's energy: 1.0 for a pure tone, about 0.5 each for a key.
    share = np.abs(frame @ basis) ** 2 * 2 / (len(frame) * energy)
    row, column = int(share[:4].argmax()), int(share[4:].argmax())
    low, high = float(share[row]), float(share[4 + column])
    if low + high < BOTH_TONES or min(low, high) < EACH_TONE:
        return None
    return KEYS[row][column]


FRAME_SECONDS = 0.025  # each frame is 25 ms of audio ...
HOP_SECONDS = 0.010  # ... and a new one starts every 10 ms

# region config
Milliseconds = Annotated[float, msgspec.Meta(ge=10, le=1000)]


class DtmfConfig(ConfigBase):
    min_tone_ms: Milliseconds = 40.0  # shorter tones are clicks, not key presses
    pause_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0  # starts a new segment


class DtmfEngine(SttEngine[DtmfConfig]):
    kind: ClassVar[str] = "dtmf"
    sample_rate: ClassVar[int] = 8000  # voxgate resamples every upload to this rate
    capabilities: ClassVar[SttCapabilities] = SttCapabilities(word_timestamps=True)
    # endregion config

    def load(self) -> None:
        # The "model": one complex sinusoid per tone, a frame long. A frame's dot product
        # with one of them measures how much of that tone the frame holds.
        t = np.arange(round(FRAME_SECONDS * self.sample_rate)) / self.sample_rate
        self.basis = np.exp(-2j * np.pi * np.outer(t, ROWS + COLUMNS))

    def unload(self) -> None:
        del self.basis

    # region transcribe
    def transcribe(self, audio: PcmAudio, options: TranscribeOptions) -> Iterator[Segment]:
        min_tone = self.min_tone_seconds(options)  # a bad request fails before any work
        number = itertools.count()
        keys: list[Word] = []
        for key in self.key_presses(audio, min_tone):
            if keys and key.start - keys[-1].end >= self.config.pause_seconds:
                yield self.segment(next(number), keys, options)  # out before the rest is heard
                keys = []
            keys.append(key)
        if keys:
            yield self.segment(next(number), keys, options)

    def key_presses(self, audio: PcmAudio, min_tone: float) -> Iterator[Word]:
        """Every key press in ``audio``: a run of frames that hold the same key."""
        size, hop = len(self.basis), round(HOP_SECONDS * audio.sample_rate)
        frames = (
            (start / audio.sample_rate, frame_key(audio.samples[start : start + size], self.basis))
            for start in range(0, len(audio) - size + 1, hop)
        )
        for key, run in itertools.groupby(frames, key=lambda frame: frame[1]):
            times = [time for time, _key in run]
            start, end = times[0], times[-1] + FRAME_SECONDS
            if key is not None and end - start >= min_tone:
                yield Word(word=key, start=round(start, 3), end=round(end, 3))

    def min_tone_seconds(self, options: TranscribeOptions) -> float:
        """The config's ``min_tone_ms``, unless the request sends its own."""
        value = options.extra.get("min_tone_ms", self.config.min_tone_ms)
        try:
            milliseconds = float(msgspec.convert(value, Milliseconds, strict=False))
        except msgspec.ValidationError as error:
            raise InvalidRequestError(f"`min_tone_ms`: {error}", param="min_tone_ms") from None
        return milliseconds / 1000

    @staticmethod
    def segment(number: int, keys: list[Word], options: TranscribeOptions) -> Segment:
        return Segment(
            id=number,
            start=keys[0].start,
            end=keys[-1].end,
            text="".join(key.word for key in keys),
            words=keys if options.word_timestamps else None,  # only when the request asks
        )

    # endregion transcribe


@hookimpl
def register_stt_engines(register: Callable[[type[SttEngine]], None]) -> None:
    register(DtmfEngine)
