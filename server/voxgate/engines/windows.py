"""Long audio in bounded pieces: cut at quiet points, then shift timestamps back.

Engines whose memory grows with the length of their input (faster-whisper computes the
spectrogram of the whole array at once: about 0.9 MB per second of audio) decode an hour
in windows instead. Cuts fall on the quietest 100 ms in the seconds before each limit, so
they rarely split a word. From a ``PcmStream`` the windows are decoded one at a time, with
the same cuts as from the whole array: a cut only ever looks at the window before it.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import msgspec
import numpy as np

from voxgate.engines.audio import PcmAudio
from voxgate.engines.stream import PcmStream

if TYPE_CHECKING:
    from collections.abc import Iterator

    from numpy.typing import NDArray

    from voxgate.engines.base import Segment

_FRAME_SECONDS = 0.1


def quiet_cuts(audio: PcmAudio, max_seconds: float, search_seconds: float = 5.0) -> list[int]:
    """Sample positions to cut at, so that no piece is longer than ``max_seconds``."""
    limit, frame, search = _sizes(audio.sample_rate, max_seconds, search_seconds)
    cuts: list[int] = []
    start = 0
    while len(audio) - start > limit:
        start += _cut(audio.samples[start : start + limit], frame, search)
        cuts.append(start)
    return cuts


def _sizes(rate: int, max_seconds: float, search_seconds: float) -> tuple[int, int, int]:
    """Window limit, energy frame and search region, in samples."""
    limit = max(1, round(max_seconds * rate))
    frame = max(1, round(_FRAME_SECONDS * rate))
    return limit, frame, min(limit - 1, round(search_seconds * rate))


def _cut(window: NDArray[np.float32], frame: int, search: int) -> int:
    """Where to end ``window`` (a full-length one): the quietest frame of its last seconds."""
    end = len(window)
    low = end - search
    region = window[low:end]
    usable = len(region) // frame * frame
    if usable == 0:
        return end
    energy = np.square(region[:usable].reshape(-1, frame)).mean(axis=1)
    return low + int(energy.argmin()) * frame + frame // 2


def windows(audio: PcmAudio | PcmStream, max_seconds: float) -> Iterator[tuple[float, PcmAudio]]:
    """``(offset_seconds, piece)`` for each window.

    Public (``voxgate.windows``) for STT engines whose memory grows with the input: transcribe
    each piece (at most ``max_seconds`` long, cut at a quiet point; ``0`` means one piece),
    then move its segments by ``offset_seconds`` with ``shift_segment``. From ``PcmAudio``
    the pieces are views of the samples, never copies; from a ``PcmStream`` each piece is
    decoded when it is asked for, so at most two windows are held at once.
    """
    if isinstance(audio, PcmStream):
        yield from _stream_windows(audio, max_seconds)
        return
    bounds = (
        [0, *quiet_cuts(audio, max_seconds), len(audio)] if max_seconds > 0 else [0, len(audio)]
    )
    for begin, end in itertools.pairwise(bounds):
        yield begin / audio.sample_rate, PcmAudio(audio.samples[begin:end], audio.sample_rate)


def _stream_windows(stream: PcmStream, max_seconds: float) -> Iterator[tuple[float, PcmAudio]]:
    """``windows`` over a stream: the same cuts, reading one window (plus a sample) ahead."""
    rate = stream.sample_rate
    if max_seconds <= 0:
        yield 0.0, stream.read_all()
        return
    limit, frame, search = _sizes(rate, max_seconds, 5.0)
    start = 0
    buffer = stream.read(limit + 1)  # one sample more than a window says whether to cut
    while len(buffer) > limit:
        cut = _cut(buffer[:limit], frame, search)
        yield start / rate, PcmAudio(buffer[:cut], rate)
        start += cut
        rest = buffer[cut:]
        buffer = np.concatenate([rest, stream.read(limit + 1 - len(rest))])
    yield start / rate, PcmAudio(buffer, rate)


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
