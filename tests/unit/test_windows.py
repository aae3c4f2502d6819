"""Long audio in windows: cuts land in quiet places, pieces cover everything, times shift back."""

from __future__ import annotations

import numpy as np
import pytest

from voxgate.engines.audio import PcmAudio
from voxgate.engines.base import Segment, Word
from voxgate.engines.stream import PcmStream
from voxgate.engines.windows import quiet_cuts, shift_segment, windows

RATE = 16_000


def speech_with_gaps(seconds: int, gaps: list[float]) -> PcmAudio:
    """Noise ("speech") everywhere except 0.3 s of silence starting at each gap."""
    rng = np.random.default_rng(0)
    samples = rng.uniform(-0.5, 0.5, seconds * RATE).astype(np.float32)
    for gap in gaps:
        samples[int(gap * RATE) : int((gap + 0.3) * RATE)] = 0
    return PcmAudio(samples, RATE)


def test_cuts_fall_in_the_silence_before_each_limit():
    audio = speech_with_gaps(100, gaps=[27.0, 55.5, 83.0])
    cuts = quiet_cuts(audio, max_seconds=30)
    assert len(cuts) == 3
    for cut, gap in zip(cuts, [27.0, 55.5, 83.0], strict=True):
        assert gap <= cut / RATE <= gap + 0.3
        assert audio.samples[cut] == 0


def test_pieces_are_bounded_and_cover_every_sample():
    audio = speech_with_gaps(95, gaps=[])
    pieces = list(windows(audio, max_seconds=20))
    assert all(piece.duration <= 20 for _, piece in pieces)
    joined = np.concatenate([piece.samples for _, piece in pieces])
    assert np.array_equal(joined, audio.samples)
    offsets = [offset for offset, _ in pieces]
    assert offsets[0] == 0
    assert offsets == sorted(offsets)
    assert all(np.shares_memory(piece.samples, audio.samples) for _, piece in pieces)


def test_short_audio_and_zero_limit_are_one_window():
    audio = speech_with_gaps(5, gaps=[])
    assert [offset for offset, _ in windows(audio, max_seconds=30)] == [0.0]
    assert [offset for offset, _ in windows(audio, max_seconds=0)] == [0.0]


def test_shift_segment_moves_words_and_renumbers():
    segment = Segment(
        id=0, start=1.0, end=2.5, text=" Hi there.",
        words=[Word(word=" Hi", start=1.0, end=1.4), Word(word=" there.", start=1.5, end=2.5)],
    )  # fmt: skip
    moved = shift_segment(segment, 120.25, 7)
    assert (moved.id, moved.start, moved.end) == (7, 121.25, 122.75)
    assert [(w.start, w.end) for w in moved.words] == [(121.25, 121.65), (121.75, 122.75)]
    assert moved.text == segment.text


def chunked(audio: PcmAudio, size: int) -> PcmStream:
    """``audio`` as a decoder would hand it over: ``size`` samples at a time."""
    pieces = (audio.samples[i : i + size] for i in range(0, len(audio), size))
    return PcmStream(pieces, audio.sample_rate, expected_seconds=audio.duration)


@pytest.mark.parametrize("chunk", [1_000, 32_768, 16_000 * 7 + 3])
@pytest.mark.parametrize(("seconds", "limit"), [(95, 20), (100, 30), (30, 30), (5, 30), (61, 0)])
def test_stream_windows_cut_exactly_where_array_windows_do(chunk, seconds, limit):
    """Decoding window by window must not change a single cut, offset or sample."""
    audio = speech_with_gaps(seconds, gaps=[18.0, 27.0, 44.5, 83.0])
    expected = list(windows(audio, max_seconds=limit))
    stream = chunked(audio, chunk)
    got = list(windows(stream, max_seconds=limit))
    assert [offset for offset, _ in got] == [offset for offset, _ in expected]
    for (_, mine), (_, theirs) in zip(got, expected, strict=True):
        assert np.array_equal(mine.samples, theirs.samples)
    assert stream.exhausted
    assert stream.duration == audio.duration


def test_stream_windows_read_one_window_ahead_at_most():
    """The stream is pulled lazily: while a piece is out, at most one more window is decoded."""
    audio = speech_with_gaps(300, gaps=[])
    decoded = [0]

    def decoder():
        for begin in range(0, len(audio), RATE):
            decoded[0] += RATE
            yield audio.samples[begin : begin + RATE]

    stream = PcmStream(decoder(), RATE)
    for offset, piece in windows(stream, max_seconds=20):
        assert decoded[0] / RATE <= offset + piece.duration + 20 + 1


def test_empty_stream_is_one_empty_window():
    stream = PcmStream(iter([]), RATE)
    assert [(o, len(p)) for o, p in windows(stream, max_seconds=30)] == [(0.0, 0)]
