"""Laying a diarizer's turns over an engine's words: ``voxgate.services.diarization.align``."""

from __future__ import annotations

from voxgate import Segment, SpeakerTurn, Word
from voxgate.services.diarization import align, speaker_at


def words(*spec: tuple[str, float, float]) -> list[Word]:
    return [Word(word=" " + w, start=a, end=b) for w, a, b in spec]


def turn(start: float, end: float, speaker: str) -> SpeakerTurn:
    return SpeakerTurn(start=start, end=end, speaker=speaker)


def test_segments_without_words_go_whole_to_the_speaker_covering_most_of_them():
    segments = [
        Segment(id=0, start=0.0, end=2.0, text=" One two."),
        Segment(id=1, start=2.0, end=4.0, text=" Three four."),
    ]
    turns = [turn(0.0, 2.5, "x"), turn(2.5, 4.0, "y")]
    got = [(s.speaker, s.text) for s in align(segments, turns, frozenset())]
    assert got == [("A", "One two."), ("B", "Three four.")]


def test_a_word_outside_every_turn_goes_to_the_nearest_turn():
    segment = Segment(
        id=0, start=0.0, end=3.0, text="", words=words(("a", 0.0, 0.4), ("b", 2.6, 3.0))
    )
    turns = [turn(0.5, 1.0, "x"), turn(2.0, 2.4, "y")]
    got = [(s.speaker, s.text) for s in align([segment], turns, frozenset())]
    assert got == [("A", "a"), ("B", "b")]


def test_no_turns_at_all_is_one_speaker():
    segment = Segment(id=0, start=0.0, end=1.0, text=" Hi.", words=words(("Hi.", 0.0, 1.0)))
    assert [s.speaker for s in align([segment], [], frozenset())] == ["A"]


def test_known_names_stay_and_letters_skip_them():
    segments = [
        Segment(id=i, start=float(i), end=i + 1.0, text=" w", words=words(("w", i, i + 1.0)))
        for i in range(3)
    ]
    turns = [turn(0, 1, "3"), turn(1, 2, "A"), turn(2, 3, "7")]
    got = [s.speaker for s in align(segments, turns, frozenset({"A"}))]
    assert got == ["B", "A", "C"], "a known speaker called A keeps A; the others skip it"


def test_cjk_words_join_without_spaces():
    segment = Segment(
        id=0,
        start=0.0,
        end=1.0,
        text="",
        words=[Word(word="你好", start=0.0, end=0.5), Word(word="世界", start=0.5, end=1.0)],
    )
    assert align([segment], [turn(0, 1, "x")], frozenset())[0].text == "你好世界"


def test_speaker_at_sums_the_overlap_of_each_speakers_turns():
    turns = [turn(0.0, 0.3, "x"), turn(0.3, 0.6, "y"), turn(0.6, 1.0, "x")]
    assert speaker_at(turns, 0.0, 1.0) == "x"
    assert speaker_at(turns, 0.35, 0.55) == "y"
