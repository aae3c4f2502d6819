"""SubRip and WebVTT bodies from decoded segments (contract §3.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from voxgate.engines.base import Segment


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cues(segments: Sequence[Segment]) -> list[tuple[float, float, str]]:
    """Each segment with text as one cue on one line.

    A line break (or a blank line) inside a cue would end it early for players, and ``-->``
    inside one is not allowed in WebVTT.
    """
    cues = []
    for segment in segments:
        text = " ".join(segment.text.split()).replace("-->", "->")
        if text:
            cues.append((segment.start, max(segment.start, segment.end), text))
    return cues


def to_srt(segments: Sequence[Segment]) -> str:
    """Cues numbered from 1, ``HH:MM:SS,mmm`` times, a blank line after each cue."""
    blocks = [
        f"{number}\n{_timestamp(start, ',')} --> {_timestamp(end, ',')}\n{text}\n"
        for number, (start, end, text) in enumerate(_cues(segments), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(segments: Sequence[Segment]) -> str:
    """``WEBVTT`` header, then cues with ``HH:MM:SS.mmm`` times."""
    blocks = [
        f"{_timestamp(start, '.')} --> {_timestamp(end, '.')}\n{text}\n"
        for start, end, text in _cues(segments)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)
