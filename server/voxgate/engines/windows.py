"""Long audio in bounded pieces: cut at quiet points, then shift timestamps back.

Engines whose memory grows with the length of their input (faster-whisper computes the
spectrogram of the whole array at once: about 0.9 MB per second of audio) decode an hour
in windows instead. Cuts fall on the quietest 100 ms in the seconds before each limit, so
they rarely split a word.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import msgspec
import numpy as np

from voxgate.engines.audio import PcmAudio

if TYPE_CHECKING:
    from collections.abc import Iterator

    from voxgate.engines.base import Segment

_FRAME_SECONDS = 0.1


def quiet_cuts(audio: PcmAudio, max_seconds: float, search_seconds: float = 5.0) -> list[int]:
    """Sample positions to cut at, so that no piece is longer than ``max_seconds``."""
    rate = audio.sample_rate
    limit = max(1, round(max_seconds * rate))
    frame = max(1, round(_FRAME_SECONDS * rate))
    search = min(limit - 1, round(search_seconds * rate))
    cuts: list[int] = []
    start = 0
    while len(audio) - start > limit:
        end = start + limit
        low = end - search
        region = audio.samples[low:end]
        usable = len(region) // frame * frame
        if usable == 0:
            cut = end
        else:
            energy = np.square(region[:usable].reshape(-1, frame)).mean(axis=1)
            cut = low + int(energy.argmin()) * frame + frame // 2
        cuts.append(cut)
        start = cut
    return cuts


def windows(audio: PcmAudio, max_seconds: float) -> Iterator[tuple[float, PcmAudio]]:
    """``(offset_seconds, piece)`` for each window; views of the samples, never copies.

    Public (``voxgate.windows``) for STT engines whose memory grows with the input: transcribe
    each piece (at most ``max_seconds`` long, cut at a quiet point; ``0`` means one piece),
    then move its segments by ``offset_seconds`` with ``shift_segment``.
    """
    bounds = (
        [0, *quiet_cuts(audio, max_seconds), len(audio)] if max_seconds > 0 else [0, len(audio)]
    )
    for begin, end in itertools.pairwise(bounds):
        yield begin / audio.sample_rate, PcmAudio(audio.samples[begin:end], audio.sample_rate)


def shift_segment(segment: Segment, offset: float, number: int) -> Segment:
    """``segment`` (and its words) moved by ``offset`` seconds, renumbered ``number``.

    Public (``voxgate.shift_segment``): puts a segment decoded from one of ``windows``' pieces
    back on the timeline of the whole upload, with ids that keep counting across pieces.
    """
    words = segment.words
    if words is not None and offset:
        words = [
            msgspec.structs.replace(
                w, start=round(w.start + offset, 3), end=round(w.end + offset, 3)
            )
            for w in words
        ]
    return msgspec.structs.replace(
        segment,
        id=number,
        start=round(segment.start + offset, 3),
        end=round(segment.end + offset, 3),
        words=words,
    )
