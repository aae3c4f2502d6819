"""Synthetic conversations for diarization: our own TTS voices taking turns, with the truth.

Piper's Joe and Kokoro's five voices are six distinct speakers. A conversation is a list of
``(speaker, text)`` turns spoken one after another with short pauses (and a back-channel
"yes" or "okay" now and then, as people do); the result is 16 kHz audio plus the reference
turns, ``(start, end, speaker)`` in seconds, for scoring. Used by tests (one small clip) and
by ``bench/diarize.py`` (the 2-, 3- and 4-speaker sets).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import voxgate_bundled
from voxgate import PcmAudio, SpeechOptions, VoiceChoice
from voxgate.testing.contracts import make_engine
from voxgate_kokoro import KokoroEngine
from voxgate_piper import PiperEngine

RATE = 16_000
# speaker -> (engine, voice id): two men (joe, kumo), four women
VOICES: dict[str, tuple[str, str]] = {
    "joe": ("piper", "en_US-joe-medium"),
    "kumo": ("kokoro", "jm_kumo"),
    "alpha": ("kokoro", "jf_alpha"),
    "nezumi": ("kokoro", "jf_nezumi"),
    "tebukuro": ("kokoro", "jf_tebukuro"),
    "gongitsune": ("kokoro", "jf_gongitsune"),
}

SENTENCES = [
    "Did you manage to book the train tickets for Friday?",
    "I did, but the early train was already full, so we leave at ten.",
    "That works for me, as long as we arrive before the museum closes.",
    "The museum is open until six, and the hotel is just around the corner.",
    "Should we bring lunch, or buy something at the station?",
    "Let's buy sandwiches at the station, the bakery there is very good.",
    "My sister said the weather will be cold and windy all weekend.",
    "Then I will pack a warm coat and an umbrella, just in case.",
    "Do you remember the name of the restaurant near the river?",
    "It was called the Blue Heron, and they serve excellent fish.",
    "We should reserve a table, because it gets busy on Saturday nights.",
    "I will call them tomorrow morning before work.",
    "How long does the train ride take from here?",
    "About two hours, with one change in the middle.",
    "Great, that gives us time to read and have a coffee.",
    "Please remind me to charge my camera battery tonight.",
    "The gallery on the second floor has a new exhibition on maps.",
    "Old maps are fascinating, I could look at them for hours.",
    "After the museum, we could walk along the old city wall.",
    "The view from the tower at sunset is supposed to be wonderful.",
]
BACKCHANNELS = ["Yes.", "Okay.", "Right.", "Sure."]


@dataclass(frozen=True)
class Conversation:
    """16 kHz audio and who spoke when."""

    audio: PcmAudio
    turns: list[tuple[float, float, str]]
    speakers: list[str]


class Voices:
    """Loaded TTS engines, speaking any of ``VOICES`` at 16 kHz."""

    def __init__(self, cache_dir: Path, *, kokoro: bool = True) -> None:
        plugins: list[Any] = [voxgate_bundled]
        piper = make_engine(
            PiperEngine, {"model": "pkg:piper-en_US-joe-medium"}, plugins, cache_dir
        )
        piper.load()
        self._engines: dict[str, Any] = {"piper": piper}
        if kokoro:
            engine = make_engine(KokoroEngine, {"model": "pkg:kokoro-82m"}, plugins, cache_dir)
            engine.load()
            self._engines["kokoro"] = engine

    def say(self, speaker: str, text: str) -> PcmAudio:
        """``text`` in ``speaker``'s voice, trimmed of leading and trailing silence."""
        engine_name, voice = VOICES[speaker]
        engine = self._engines[engine_name]
        chunks = list(engine.synthesize(text, VoiceChoice(voice_id=voice), SpeechOptions()))
        audio = PcmAudio.concat(chunks, chunks[0].sample_rate).resample(RATE)
        loud = np.flatnonzero(np.abs(audio.samples) > 0.01)
        if len(loud) == 0:
            return audio
        return PcmAudio(audio.samples[loud[0] : loud[-1] + 1], RATE)


def script(
    speakers: list[str], turns: int, seed: int, *, backchannels: float = 0.2
) -> list[tuple[str, str]]:
    """A random conversation: ``turns`` turns, never the same speaker twice in a row."""
    rng = random.Random(seed)  # noqa: S311  # reproducible test data, not secrets
    lines: list[tuple[str, str]] = []
    sentences = SENTENCES[:]
    rng.shuffle(sentences)
    previous = None
    for index in range(turns):
        speaker = rng.choice([s for s in speakers if s != previous])
        if lines and rng.random() < backchannels:
            text = rng.choice(BACKCHANNELS)
        else:
            text = sentences[index % len(sentences)]
            if rng.random() < 0.3:  # a longer turn: two sentences
                text += " " + sentences[(index + 7) % len(sentences)]
        lines.append((speaker, text))
        previous = speaker
    return lines


def speak(
    voices: Voices, lines: list[tuple[str, str]], seed: int, pause: tuple[float, float]
) -> Conversation:
    """Say every line in turn with a random pause between them; the reference turns too."""
    rng = random.Random(seed)  # noqa: S311  # reproducible test data, not secrets
    pieces: list[np.ndarray] = [np.zeros(int(0.5 * RATE), dtype=np.float32)]
    position = 0.5
    turns: list[tuple[float, float, str]] = []
    for speaker, text in lines:
        audio = voices.say(speaker, text)
        level = 10 ** (rng.uniform(-4, 2) / 20)  # speakers are not equally loud
        pieces.append((audio.samples * level).astype(np.float32))
        turns.append((position, position + audio.duration, speaker))
        gap = rng.uniform(*pause)
        pieces.append(np.zeros(int(gap * RATE), dtype=np.float32))
        position += audio.duration + int(gap * RATE) / RATE
    speakers = list(dict.fromkeys(speaker for speaker, _ in lines))
    return Conversation(PcmAudio(np.concatenate(pieces), RATE), turns, speakers)
