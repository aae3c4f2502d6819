"""Speed without a pitch change for engines that have no native speed: FFmpeg's ``atempo``."""

from __future__ import annotations

from fractions import Fraction

import av
import av.filter
import numpy as np

from voxgate import PcmAudio

_ATEMPO_MIN = 0.5
_ATEMPO_MAX = 2.0


def _stages(factor: float) -> list[float]:
    """``atempo`` takes 0.5-2.0 per stage everywhere: chain stages for 0.25 or 4.0."""
    stages = []
    while factor < _ATEMPO_MIN:
        stages.append(_ATEMPO_MIN)
        factor /= _ATEMPO_MIN
    while factor > _ATEMPO_MAX:
        stages.append(_ATEMPO_MAX)
        factor /= _ATEMPO_MAX
    return [*stages, factor]


def change_tempo(audio: PcmAudio, factor: float) -> PcmAudio:
    """``audio`` played ``factor`` times faster, at the same pitch and rate."""
    if factor == 1.0 or len(audio) == 0:
        return audio
    graph = av.filter.Graph()
    source = graph.add_abuffer(format="flt", sample_rate=audio.sample_rate, layout="mono")
    nodes = [source, *(graph.add("atempo", f"{stage:.6f}") for stage in _stages(factor))]
    sink = graph.add("abuffersink")
    for upstream, downstream in zip(nodes, [*nodes[1:], sink], strict=True):
        upstream.link_to(downstream)
    graph.configure()
    first = av.AudioFrame.from_ndarray(audio.samples.reshape(1, -1), format="flt", layout="mono")
    first.sample_rate = audio.sample_rate
    first.pts = 0
    first.time_base = Fraction(1, audio.sample_rate)
    source.push(first)
    source.push(None)
    parts: list[np.ndarray] = []
    while True:
        try:
            frame = sink.pull()
        except (av.error.EOFError, av.error.BlockingIOError):
            break
        if not isinstance(frame, av.AudioFrame):  # an audio graph gives audio frames only
            msg = f"the tempo filter gave a {type(frame).__name__}, not audio"
            raise TypeError(msg)
        parts.append(frame.to_ndarray().reshape(-1))
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return PcmAudio(samples.astype(np.float32, copy=False), audio.sample_rate)
