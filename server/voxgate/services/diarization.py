"""Who spoke when, joined with what was said: the service side of speaker diarization.

The diarizer (a ``[diarize.*]`` instance) hears the upload as the STT engine reads it
(``feeding``): both read one decode, block by block, so nothing is decoded twice and nothing
is held whole. Its turns are then laid over the engine's words (``align``): each word goes
to the speaker whose turn covers most of it, consecutive words of one speaker inside one
engine segment make a diarized segment. So a segment never splits a word, and a speaker
change inside an engine segment splits that segment.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from voxgate.engines.audio import PcmAudio
from voxgate.engines.base import AudioDecodeError, KnownSpeaker, SpeakerTurn
from voxgate.engines.stream import PcmStream
from voxgate.errors import InvalidRequestError
from voxgate.wire.transcription import DiarizedSegment

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import numpy as np
    from numpy.typing import NDArray

    from voxgate.engines.base import DiarizationSession, Segment, Transcoder
    from voxgate.services.transcription import TextJoiner

MAX_KNOWN_SPEAKERS = 4
REFERENCE_SECONDS = (2.0, 10.0)
_FEED_SECONDS = 1.0  # how much the tee reads from the upload at a time
_DATA_URL = re.compile(r"^data:[\w.+/-]*(;[^;,]*)*?;base64,(?P<data>.*)$", re.DOTALL)
_LETTERS = 26


@dataclass
class DiarizedRun:
    """A diarizing engine run: the session fed by the upload, and its turns once finished."""

    session: DiarizationSession
    sample_rate: int  # the diarizer's
    turns: list[SpeakerTurn] | None = None
    known: frozenset[str] = field(default_factory=frozenset)


def feeding(upload: PcmStream, run: DiarizedRun) -> PcmStream:
    """``upload`` as the engine reads it, each block also fed to the diarizer.

    Blocks are fed at the diarizer's ``sample_rate``, resampled when the engine's differs.
    Closing the returned stream closes ``upload`` (and so its decoder and budget).
    """

    def blocks() -> Iterator[NDArray[np.float32]]:
        step = max(1, round(_FEED_SECONDS * upload.sample_rate))
        while True:
            block = upload.read(step)
            if len(block) == 0:
                return
            audio = PcmAudio(block, upload.sample_rate)
            run.session.feed(audio.resample(run.sample_rate).samples)
            yield block

    tee = PcmStream(blocks(), upload.sample_rate, expected_seconds=upload.expected_seconds)
    tee.on_close(upload.close)
    return tee


def with_turns(segments: Iterator[Segment], run: DiarizedRun) -> Iterator[Segment]:
    """The engine's segments; after the last, the diarizer's turns (in the same worker)."""
    yield from segments
    run.turns = run.session.finish()


# -- known speakers ---------------------------------------------------------------------------


def known_speakers(
    names: Sequence[str],
    references: Sequence[str],
    transcoder: Transcoder | None,
    sample_rate: int,
) -> tuple[KnownSpeaker, ...]:
    """Validate ``known_speaker_names[]`` with ``known_speaker_references[]``, decode the clips.

    Every problem is a 400 naming its field: more than four, counts that differ, a name given
    twice or empty, a reference that is not a base64 data URL of audio, or a clip outside 2-10 s.
    """
    if len(names) > MAX_KNOWN_SPEAKERS or len(references) > MAX_KNOWN_SPEAKERS:
        param = (
            "known_speaker_names"
            if len(names) > MAX_KNOWN_SPEAKERS
            else ("known_speaker_references")
        )
        raise InvalidRequestError(
            f"At most {MAX_KNOWN_SPEAKERS} known speakers can be given.", param=param
        )
    if len(names) != len(references):
        raise InvalidRequestError(
            f"known_speaker_names has {len(names)} entries and known_speaker_references "
            f"{len(references)}: give one reference clip per name.",
            param="known_speaker_references",
        )
    if any(not name.strip() for name in names) or len(set(names)) != len(names):
        raise InvalidRequestError(
            "known_speaker_names must be distinct, non-empty names.", param="known_speaker_names"
        )
    return tuple(
        KnownSpeaker(name=name, audio=_reference(index, url, transcoder, sample_rate))
        for index, (name, url) in enumerate(zip(names, references, strict=True))
    )


def _reference(index: int, url: str, transcoder: Transcoder | None, rate: int) -> PcmAudio:
    param = "known_speaker_references"
    where = f"known_speaker_references[{index}]"
    match = _DATA_URL.match(url.strip())
    if match is None:
        raise InvalidRequestError(
            f"{where} must be a data URL of audio (`data:audio/wav;base64,...`).", param=param
        )
    try:
        data = base64.b64decode(match.group("data"), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError(f"{where} is not valid base64.", param=param) from None
    if not data:
        raise InvalidRequestError(f"{where} is empty.", param=param)
    if transcoder is None:
        raise InvalidRequestError(
            "This server has no audio decoder installed to read known_speaker_references.",
            param=param,
        )
    try:
        audio = transcoder.decode(data, rate)
    except AudioDecodeError as exc:
        raise InvalidRequestError(f"{where}: {exc}", param=param) from None
    low, high = REFERENCE_SECONDS
    if not low <= audio.duration <= high:
        raise InvalidRequestError(
            f"{where} is {audio.duration:.1f} s long; reference clips must be {low:g}-{high:g} s.",
            param=param,
        )
    return audio


# -- turns and words --------------------------------------------------------------------------


@dataclass
class _Piece:
    start: float
    end: float
    speaker: str
    words: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The words joined as segment texts are (a space between words, none in CJK)."""
        joiner = _joiner()
        for word in self.words:
            joiner.add(word)
        return joiner.text


def _joiner() -> TextJoiner:
    from voxgate.services.transcription import TextJoiner  # noqa: PLC0415  # imports this module

    return TextJoiner()


def align(
    segments: Sequence[Segment], turns: Sequence[SpeakerTurn], known: frozenset[str]
) -> list[DiarizedSegment]:
    """Diarized segments: the engine's words grouped by speaker, speakers named for clients.

    A speaker the diarizer named after a known speaker keeps that name; the others become
    ``A``, ``B``, ... in order of first appearance.
    """
    pieces: list[_Piece] = []
    for segment in segments:
        words = [w for w in segment.words or [] if w.word.strip()]
        if not words:
            if segment.text.strip():
                speaker = speaker_at(turns, segment.start, segment.end)
                pieces.append(_Piece(segment.start, segment.end, speaker, [segment.text]))
            continue
        piece: _Piece | None = None
        for word in words:
            # Whisper's word starts take in the silence before them: judge by the second half
            who = speaker_at(turns, (word.start + word.end) / 2, word.end)
            if piece is None or who != piece.speaker:
                piece = _Piece(word.start, word.end, who)
                pieces.append(piece)
            piece.words.append(word.word)
            piece.end = word.end
    names = _client_names([p.speaker for p in pieces], known)
    return [
        DiarizedSegment(
            id=f"seg_{index}",
            start=round(piece.start, 3),
            end=round(piece.end, 3),
            text=piece.text,
            speaker=names[piece.speaker],
        )
        for index, piece in enumerate(pieces)
    ]


_NOBODY = ""


def speaker_at(turns: Sequence[SpeakerTurn], start: float, end: float) -> str:
    """The speaker whose turns overlap ``[start, end]`` most; else the nearest turn's."""
    if not turns:
        return _NOBODY
    overlap: dict[str, float] = {}
    for turn in turns:
        shared = min(end, turn.end) - max(start, turn.start)
        if shared > 0:
            overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
    if overlap:
        return max(overlap, key=lambda speaker: overlap[speaker])
    middle = (start + end) / 2
    nearest = min(turns, key=lambda t: max(t.start - middle, middle - t.end, 0.0))
    return nearest.speaker


def _client_names(speakers: Sequence[str], known: frozenset[str]) -> dict[str, str]:
    """Known names stay; every other label becomes a letter in order of first appearance."""
    names: dict[str, str] = {}
    letters = (chr(ord("A") + i) if i < _LETTERS else f"S{i + 1}" for i in range(10_000))
    for speaker in speakers:
        if speaker in names:
            continue
        if speaker in known:
            names[speaker] = speaker
            continue
        letter = next(letters)
        while letter in known:
            letter = next(letters)
        names[speaker] = letter
    return names
