"""The DER scorer of the diarization tests and benchmark, against cases computed by hand."""

from __future__ import annotations

import pytest
from der import der, der_parts

REF = [(0.0, 4.0, "ann"), (5.0, 9.0, "bob")]


def test_a_perfect_hypothesis_scores_zero_whatever_its_labels():
    assert der(REF, [(0.0, 4.0, "B"), (5.0, 9.0, "A")]) == 0.0


def test_one_speaker_for_everything_confuses_the_other_speakers_time():
    # 8 s of reference speech; "A" maps to ann (4 s agree), bob's 4 s are confusion
    parts = der_parts(REF, [(0.0, 4.0, "A"), (5.0, 9.0, "A")])
    assert parts["confusion"] == pytest.approx(4.0)
    assert parts["der"] == pytest.approx(0.5)


def test_missed_speech_and_false_alarms_count_in_seconds():
    # bob's last second missed (1 s), speech claimed in the 4-5 s gap (1 s): 2 / 8
    parts = der_parts(REF, [(0.0, 5.0, "A"), (5.0, 8.0, "B")])
    assert parts["miss"] == pytest.approx(1.0)
    assert parts["false_alarm"] == pytest.approx(1.0)
    assert parts["confusion"] == pytest.approx(0.0)
    assert parts["der"] == pytest.approx(0.25)


def test_a_late_speaker_change_is_confusion_and_mapping_is_one_to_one():
    # the hypothesis switches 1 s late: 1 s of bob's speech labelled as ann's speaker
    hyp = [(0.0, 4.0, "X"), (5.0, 6.0, "X"), (6.0, 9.0, "Y")]
    assert der(REF, hyp) == pytest.approx(1 / 8)


def test_overlapped_speech_counts_per_speaker():
    ref = [(0.0, 2.0, "ann"), (1.0, 3.0, "bob")]  # 4 s of speaker time
    hyp = [(0.0, 3.0, "A")]  # one speaker: bob's overlap second is missed, bob's last confused
    parts = der_parts(ref, hyp)
    assert parts["total"] == pytest.approx(4.0)
    assert parts["miss"] == pytest.approx(1.0)
    assert parts["confusion"] == pytest.approx(1.0)
    assert parts["der"] == pytest.approx(0.5)


def test_an_empty_hypothesis_misses_everything():
    assert der(REF, []) == pytest.approx(1.0)
