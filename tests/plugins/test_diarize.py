"""The ``ge2e`` diarizer's session logic on a stand-in encoder: blocks, clustering, naming.

The stand-in "hears" a speaker in a clip's sign (positive samples: one voice, negative: the
other), so what is tested here is what the session does with embeddings, not the network
(``tests/engines/test_diarize.py`` runs the real one).
"""

from __future__ import annotations

import numpy as np
import pytest

import voxgate_bundled
from voxgate import ServiceUnavailableError, SpeakerTurn
from voxgate.testing.contracts import make_engine
from voxgate_diarize import Ge2eDiarizer
from voxgate_diarize.session import Ge2eSession, Settings

RATE = 16_000
VOICES = {
    "pos": np.array([1.0, 0.2, 0.0], dtype=np.float32),
    "neg": np.array([0.0, 0.2, 1.0], dtype=np.float32),
    "odd": np.array([0.1, 1.0, 0.1], dtype=np.float32),
}


class SignEncoder:
    """Embeds a clip as the voice its samples' sign and size say it is."""

    def __init__(self) -> None:
        self.clips = 0

    def embed(self, clips):
        self.clips += len(clips)
        out = []
        for clip in clips:
            level = float(np.mean(clip))
            voice = "odd" if abs(level) > 0.75 else "pos" if level > 0 else "neg"
            vector = VOICES[voice]
            out.append(vector / np.linalg.norm(vector))
        return np.stack(out)


def speech(samples):
    """Non-zero runs are speech."""
    voiced = np.concatenate([[False], samples != 0, [False]])
    edges = np.flatnonzero(np.diff(voiced.astype(int)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def settings(**overrides) -> Settings:
    values = {
        "sample_rate": RATE,
        "window": int(1.6 * RATE),
        "hop": int(0.8 * RATE),
        "min_region": int(0.3 * RATE),
        "block": 30 * RATE,
        "threshold": 0.3,
        "min_speaker_seconds": 1.0,
        "known_similarity": 0.75,
        "max_speakers": None,
    }
    return Settings(**{**values, **overrides})


def conversation(turns, gap=0.5):
    """Samples of (voice level, seconds) turns with silence between; the reference turns."""
    pieces, truth, position = [], [], 0.0
    for level, seconds in turns:
        pieces.append(np.full(int(seconds * RATE), level, dtype=np.float32))
        truth.append((position, position + seconds, "pos" if level > 0 else "neg"))
        pieces.append(np.zeros(int(gap * RATE), dtype=np.float32))
        position += seconds + gap
    return np.concatenate(pieces), truth


def run(samples, session, block=RATE):
    for start in range(0, len(samples), block):
        session.feed(samples[start : start + block])
    return session.finish()


def test_two_voices_taking_turns_become_two_speakers_at_the_right_times():
    samples, truth = conversation([(0.5, 3.0), (-0.5, 2.0), (0.5, 0.6), (-0.5, 4.0)])
    turns = run(samples, Ge2eSession(SignEncoder(), speech, settings(), []))
    assert [t.speaker for t in turns] == ["0", "1", "0", "1"]
    for turn, (start, end, _) in zip(turns, truth, strict=True):
        assert turn.start == pytest.approx(start, abs=0.01)
        assert turn.end == pytest.approx(end, abs=0.01)


def test_a_short_stray_cluster_joins_its_nearest_speaker():
    samples, _ = conversation([(0.5, 3.0), (0.9, 0.5), (-0.5, 3.0)])
    turns = run(samples, Ge2eSession(SignEncoder(), speech, settings(), []))
    assert {t.speaker for t in turns} == {"0", "1"}, "the 0.5 s odd voice is no third speaker"


def test_short_windows_join_the_speakers_that_long_windows_define():
    # three 0.6 s turns of an odd-sounding "yes": 1.8 s in all, yet no speaker of their own
    samples, _ = conversation(
        [(0.5, 3.0), (0.9, 0.6), (-0.5, 3.0), (0.9, 0.6), (0.5, 3.0), (0.9, 0.6), (-0.5, 3.0)]
    )
    turns = run(samples, Ge2eSession(SignEncoder(), speech, settings(), []))
    assert {t.speaker for t in turns} == {"0", "1"}


def test_speech_running_past_a_block_is_embedded_whole_with_the_next_block():
    # the second turn starts 0.2 s before the first 3 s block ends: too short to embed alone
    samples, truth = conversation([(0.5, 2.3), (-0.5, 4.0), (0.5, 3.0)], gap=0.5)
    small_blocks = settings(block=3 * RATE)
    turns = run(samples, Ge2eSession(SignEncoder(), speech, small_blocks, []), block=RATE // 2)
    assert [t.speaker for t in turns] == ["0", "1", "0"]
    assert turns[1].start == pytest.approx(truth[1][0], abs=0.01), "its first 0.2 s kept"
    assert turns[1].end == pytest.approx(truth[1][1], abs=0.01)


def test_known_speakers_name_the_clusters_they_resemble():
    samples, _ = conversation([(0.5, 3.0), (-0.5, 3.0)])
    known = [("Bob", VOICES["neg"] / np.linalg.norm(VOICES["neg"]))]
    turns = run(samples, Ge2eSession(SignEncoder(), speech, settings(), known))
    assert [t.speaker for t in turns] == ["0", "Bob"]


def test_max_speakers_caps_the_count():
    samples, _ = conversation([(0.5, 3.0), (-0.5, 3.0), (0.9, 3.0)])
    turns = run(samples, Ge2eSession(SignEncoder(), speech, settings(max_speakers=2), []))
    assert len({t.speaker for t in turns}) == 2


def test_an_hour_of_windows_clusters_on_a_sample_and_keeps_two_speakers():
    turns = [(0.5 if i % 2 == 0 else -0.5, 2.0) for i in range(1200)]  # 1 h of 2 s turns
    samples, _ = conversation(turns, gap=1.0)
    encoder = SignEncoder()
    session = Ge2eSession(encoder, speech, settings(), [])
    found = run(samples, session, block=10 * RATE)
    assert encoder.clips > 1500, "more windows than are clustered directly"
    assert [t.speaker for t in found] == [str(i % 2) for i in range(1200)]


def test_silence_has_no_turns():
    session = Ge2eSession(SignEncoder(), speech, settings(), [])
    assert run(np.zeros(5 * RATE, dtype=np.float32), session) == []
    assert isinstance(SpeakerTurn(start=0, end=1, speaker="x"), SpeakerTurn)


def test_without_the_weights_package_loading_is_a_503_saying_what_to_install(tmp_path):
    diarizer = make_engine(
        Ge2eDiarizer, {"model": "pkg:no-such-model"}, [voxgate_bundled], tmp_path
    )
    with pytest.raises(ServiceUnavailableError, match="pip install --no-deps resemblyzer"):
        diarizer.load()
