"""Speakers across the turns of a realtime transcription session (diarizing models).

Each turn is diarized on its own, so for a speaker to keep their label from one turn to the
next, the voice heard under each label so far becomes a known speaker of the next turn's
diarizer: up to ``REFERENCE_SECONDS[1]`` of their audio, once there is at least
``REFERENCE_SECONDS[0]`` of it, for at most ``MAX_KNOWN_SPEAKERS`` voices. Every label handed
out is reserved, so a new voice never takes an old voice's letter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from voxgate.engines.audio import PcmAudio
from voxgate.engines.base import DiarizeOptions, KnownSpeaker
from voxgate.services.diarization import (
    MAX_KNOWN_SPEAKERS,
    REFERENCE_SECONDS,
    DiarizedRun,
    align,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

    from voxgate.engines.base import Diarizer, Segment
    from voxgate.engines.pool import EngineInstance
    from voxgate.wire.transcription import DiarizedSegment


class SpeakerMemory:
    """The labels handed out in a session, and a clip of each voice for the next turn."""

    def __init__(self, diarizer: EngineInstance[Diarizer]) -> None:
        self.diarizer = diarizer
        self.rate = diarizer.engine_class.sample_rate
        self._clips: dict[str, list[NDArray[np.float32]]] = {}  # label -> its audio so far

    async def open(self) -> DiarizedRun:
        """A diarizer session for the next turn, knowing the voices heard so far."""
        known = tuple(
            KnownSpeaker(name=label, audio=PcmAudio(np.concatenate(parts), self.rate))
            for label, parts in self._clips.items()
            if self._seconds(label) >= REFERENCE_SECONDS[0]
        )[:MAX_KNOWN_SPEAKERS]
        options = DiarizeOptions(known_speakers=known)
        session = await self.diarizer.run(lambda engine: engine.session(options))
        # every label handed out stays reserved, with or without a clip
        return DiarizedRun(session=session, sample_rate=self.rate, known=frozenset(self._clips))

    def label(
        self, segments: Sequence[Segment], run: DiarizedRun, audio: PcmAudio
    ) -> list[DiarizedSegment]:
        """The turn's diarized segments; each voice's audio is kept for the turns to come."""
        diarized = align(segments, run.turns or [], run.known)
        samples = audio.resample(self.rate).samples
        for segment in diarized:
            parts = self._clips.setdefault(segment.speaker, [])
            room = REFERENCE_SECONDS[1] - self._seconds(segment.speaker)
            if room <= 0:
                continue
            begin = round(segment.start * self.rate)
            end = min(round(segment.end * self.rate), begin + round(room * self.rate))
            if end > begin:
                parts.append(samples[begin:end])
        return diarized

    def _seconds(self, label: str) -> float:
        return sum(len(part) for part in self._clips.get(label, [])) / self.rate
