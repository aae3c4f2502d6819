import itertools
from collections.abc import Callable, Iterator

import numpy as np
from numpy.typing import NDArray

from voxgate import PcmAudio, Segment, SttEngine, TranscribeOptions, hookimpl

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


class DtmfEngine(SttEngine):
    kind = "dtmf"
    sample_rate = 8000  # voxgate resamples every upload to this rate

    def load(self) -> None:
        # The "model": one complex sinusoid per tone, a frame (200 samples, 25 ms) long.
        t = np.arange(200) / self.sample_rate
        self.basis = np.exp(-2j * np.pi * np.outer(t, ROWS + COLUMNS))

    def transcribe(self, audio: PcmAudio, options: TranscribeOptions) -> Iterator[Segment]:
        del options  # for now: every request is answered the same way
        samples = audio.samples
        starts = range(0, len(samples) - 200 + 1, 80)  # a 25 ms frame every 10 ms
        heard = [frame_key(samples[start : start + 200], self.basis) for start in starts]
        keys = [key for key, _run in itertools.groupby(heard) if key is not None]
        yield Segment(id=0, start=0.0, end=audio.duration, text="".join(keys))


@hookimpl
def register_stt_engines(register: Callable[[type[SttEngine]], None]) -> None:
    register(DtmfEngine)
