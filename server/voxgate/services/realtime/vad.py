"""Voice activity on live audio: Silero VAD (shipped with faster-whisper) and turn detection.

``SpeechProbability`` runs Silero on each 32 ms window (512 samples at 16 kHz) as audio
arrives, carrying the model's state from window to window, which gives exactly what
Silero gives on the whole recording. ``TurnDetector`` turns those probabilities into
speech-started / speech-stopped events with OpenAI's ``server_vad`` parameters, in
milliseconds of audio received (not wall clock).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

VAD_RATE = 16_000
WINDOW = 512  # samples per Silero window at 16 kHz: 32 ms
WINDOW_MS = 1000 * WINDOW / VAD_RATE
CONTEXT = 64  # samples of the previous window Silero sees before each one
STATE_SHAPE = (1, 1, 128)
HYSTERESIS = 0.15  # speech ends below threshold - 0.15, as Silero's own segmenter does

_MODEL_LOCK = threading.Lock()
_MODEL: list[Any] = []


def silero_session() -> Any:
    """faster-whisper's Silero ONNX session (loaded once; onnxruntime sessions are thread-safe)."""
    with _MODEL_LOCK:
        if not _MODEL:
            from faster_whisper.vad import (  # type: ignore[import-untyped]  # noqa: PLC0415
                get_vad_model,
            )

            _MODEL.append(get_vad_model().session)
        return _MODEL[0]


class SpeechProbability:
    """Silero's speech probability for each complete 32 ms window of 16 kHz audio fed in."""

    def __init__(self) -> None:
        self._session = silero_session()
        self._h = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def feed(self, samples: NDArray[np.float32]) -> list[float]:
        """Probabilities of the windows ``samples`` completed (a partial window waits)."""
        audio = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        count = len(audio) // WINDOW
        self._pending = audio[count * WINDOW :]
        out: list[float] = []
        for index in range(count):
            window = audio[index * WINDOW : (index + 1) * WINDOW]
            batch = np.concatenate([self._context, window])[None, :]
            result, self._h, self._c = self._session.run(
                None, {"input": batch, "h": self._h, "c": self._c}
            )
            out.append(float(np.asarray(result).reshape(-1)[0]))
            self._context = window[-CONTEXT:]
        return out


@dataclass(frozen=True)
class TurnSettings:
    """OpenAI's ``server_vad`` knobs, with its defaults."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500


@dataclass(frozen=True)
class SpeechStarted:
    """Speech began; ``audio_start_ms`` includes the prefix padding, as OpenAI reports it."""

    audio_start_ms: int
    onset_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    """Silence lasted ``silence_duration_ms``; ``audio_end_ms`` is where speech ended."""

    audio_end_ms: int


TurnEvent = SpeechStarted | SpeechStopped


class TurnDetector:
    """Speech start and stop in a live stream, from Silero's per-window probabilities."""

    def __init__(
        self, settings: TurnSettings, probability: SpeechProbability | None = None
    ) -> None:
        self.settings = settings
        self._probability = probability or SpeechProbability()
        self._windows = 0  # windows seen: the clock, in units of 32 ms of audio
        self.in_speech = False
        self._last_speech_end = 0  # window index just after the last speech window

    @property
    def position_ms(self) -> int:
        """Milliseconds of audio judged so far."""
        return round(self._windows * WINDOW_MS)

    @property
    def speech_end_ms(self) -> int:
        """Where the latest speech window ended: a pause so far, before it is long enough."""
        return round(self._last_speech_end * WINDOW_MS)

    def feed(self, samples: NDArray[np.float32]) -> list[TurnEvent]:
        """Events found in this audio (16 kHz float32)."""
        events: list[TurnEvent] = []
        threshold = self.settings.threshold
        silence_windows = max(1, round(self.settings.silence_duration_ms / WINDOW_MS))
        for probability in self._probability.feed(samples):
            index = self._windows
            self._windows += 1
            if not self.in_speech:
                if probability >= threshold:
                    self.in_speech = True
                    self._last_speech_end = index + 1
                    onset = round(index * WINDOW_MS)
                    start = max(0, onset - self.settings.prefix_padding_ms)
                    events.append(SpeechStarted(audio_start_ms=start, onset_ms=onset))
                continue
            if probability >= threshold - HYSTERESIS:
                self._last_speech_end = index + 1
            elif index + 1 - self._last_speech_end >= silence_windows:
                self.in_speech = False
                events.append(SpeechStopped(audio_end_ms=round(self._last_speech_end * WINDOW_MS)))
        return events
