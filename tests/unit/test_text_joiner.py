"""Segment texts meet in one place, ``TextJoiner``: deltas and final texts agree everywhere."""

from __future__ import annotations

import pytest

from voxgate.engines.base import Segment
from voxgate.services.transcription import TextJoiner, joined_text


def segments(*texts: str) -> list[Segment]:
    return [Segment(id=i, start=i, end=i + 1, text=text) for i, text in enumerate(texts)]


@pytest.mark.parametrize(
    ("texts", "deltas", "text"),
    [
        # Whisper's own segments start with a space: kept, never doubled
        ([" Hello.", " World."], ["Hello.", " World."], "Hello. World."),
        # bare segments get exactly one space between them
        (["Hello.", "World."], ["Hello.", " World."], "Hello. World."),
        (["Hello. ", "World.  "], ["Hello.", " World."], "Hello. World."),
        (
            [" Hello.", "World.", " Again."],
            ["Hello.", " World.", " Again."],
            "Hello. World. Again.",
        ),
        (["", "  ", "Hi."], ["", "", "Hi."], "Hi."),
        # scripts written without spaces run on; Korean writes spaces
        (["你好。", "世界。"], ["你好。", "世界。"], "你好。世界。"),
        (["こんにちは。", "元気?"], ["こんにちは。", "元気?"], "こんにちは。元気?"),
        (["สวัสดี", "ครับ"], ["สวัสดี", "ครับ"], "สวัสดีครับ"),
        (
            ["안녕하세요.", "반갑습니다."],
            ["안녕하세요.", " 반갑습니다."],
            "안녕하세요. 반갑습니다.",
        ),
    ],
)
def test_segments_join_with_one_space_where_neither_has_one(texts, deltas, text):
    joiner = TextJoiner()
    assert [joiner.add(t) for t in texts] == deltas
    assert joiner.text == text
    assert "".join(deltas) == text, "the deltas add up to the text"
    assert joined_text(segments(*texts)) == text
