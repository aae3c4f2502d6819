"""Long audio in windows: cuts land in quiet places, pieces cover everything, times shift back."""

from __future__ import annotations

import numpy as np

from voxgate.engines.audio import PcmAudio
from voxgate.engines.base import Segment, Word
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
