"""PcmStream: an upload read as it decodes; reads are exact, closing runs its callbacks once."""

from __future__ import annotations

import numpy as np
import pytest

from voxgate.engines.audio import PcmAudio
from voxgate.engines.stream import PcmStream

RATE = 16_000


def counting(total: int, size: int, pulled: list[int]):
    """A decoder of ``total`` samples in ``size`` chunks that records each chunk it decodes."""
    for begin in range(0, total, size):
        chunk = np.arange(begin, min(total, begin + size), dtype=np.float32)
        pulled.append(len(chunk))
        yield chunk


def test_reads_are_exact_across_chunks_and_lazy():
    pulled: list[int] = []
    stream = PcmStream(counting(10_000, 3_000, pulled), RATE, expected_seconds=1.0)
    assert pulled == [], "nothing is decoded before the first read"
    first = stream.read(4_000)
    assert np.array_equal(first, np.arange(4_000))
    assert pulled == [3_000, 3_000], "only what the read needs"
    assert stream.duration == 1.0, "the expected length until the end is reached"
    rest = stream.read_all()
    assert np.array_equal(rest.samples, np.arange(4_000, 10_000))
    assert stream.exhausted
    assert stream.duration == 10_000 / RATE
    assert len(stream.read(5)) == 0


def test_close_stops_the_decoder_and_runs_callbacks_once():
    closed: list[str] = []

    def decoder():
        try:
            yield np.zeros(10, np.float32)
            yield np.zeros(10, np.float32)
        finally:
            closed.append("decoder")

    stream = PcmStream(decoder(), RATE)
    stream.on_close(lambda: closed.append("budget"))
    stream.read(5)
    stream.close()
    stream.close()
    assert closed == ["decoder", "budget"]
    stream.on_close(lambda: closed.append("late"))
    assert closed[-1] == "late", "a callback added after closing runs at once"


def test_from_audio_and_rate_checks():
    audio = PcmAudio(np.ones(8_000, np.float32), RATE)
    stream = PcmStream.from_audio(audio)
    assert stream.expected_seconds == 0.5
    assert np.array_equal(stream.read_all().samples, audio.samples)
    with pytest.raises(ValueError, match="positive"):
        PcmStream(iter([]), 0)
