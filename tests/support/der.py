"""Diarization error rate (DER), scored on 10 ms frames, for tests and ``bench/diarize.py``.

DER = (missed speech + false alarm + speaker confusion) / reference speech, with the
hypothesis speakers mapped one-to-one onto the reference speakers so that they agree the
most (the Hungarian method), no forgiveness collar and overlapped speech counted per speaker:
the definition of NIST's md-eval and of ``pyannote.metrics`` at ``collar=0``. Checked against
hand-computed cases in ``tests/unit/test_der.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

Turn = tuple[float, float, str]
STEP = 0.01  # seconds per frame


def _grid(turns: Sequence[Turn], speakers: list[str], frames: int) -> np.ndarray:
    grid = np.zeros((len(speakers), frames), dtype=bool)
    for start, end, speaker in turns:
        grid[speakers.index(speaker), round(start / STEP) : round(end / STEP)] = True
    return grid


def der(reference: Sequence[Turn], hypothesis: Sequence[Turn]) -> float:
    """The diarization error rate of ``hypothesis`` against ``reference`` (0.0 is perfect)."""
    return der_parts(reference, hypothesis)["der"]


def der_parts(reference: Sequence[Turn], hypothesis: Sequence[Turn]) -> dict[str, float]:
    """DER and its parts, each in seconds: ``total``, ``miss``, ``false_alarm``, ``confusion``."""
    end = max([t[1] for t in [*reference, *hypothesis]], default=0.0)
    frames = round(end / STEP) + 1
    ref_speakers = sorted({t[2] for t in reference})
    hyp_speakers = sorted({t[2] for t in hypothesis})
    ref = _grid(reference, ref_speakers, frames)
    hyp = _grid(hypothesis, hyp_speakers, frames)
    ref_count = ref.sum(axis=0)
    hyp_count = hyp.sum(axis=0)
    correct = np.zeros(frames)
    if ref_speakers and hyp_speakers:
        agreement = ref.astype(np.int64) @ hyp.T.astype(np.int64)  # frames both speak
        rows, cols = linear_sum_assignment(-agreement)
        for r, c in zip(rows, cols, strict=True):
            correct += ref[r] & hyp[c]
    total = float(ref_count.sum()) * STEP
    miss = float(np.maximum(ref_count - hyp_count, 0).sum()) * STEP
    false_alarm = float(np.maximum(hyp_count - ref_count, 0).sum()) * STEP
    confusion = float((np.minimum(ref_count, hyp_count) - correct).sum()) * STEP
    rate = (miss + false_alarm + confusion) / total if total else float(hyp_count.any())
    return {
        "der": rate,
        "total": total,
        "miss": miss,
        "false_alarm": false_alarm,
        "confusion": confusion,
    }
