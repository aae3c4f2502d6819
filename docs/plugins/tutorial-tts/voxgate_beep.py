"""voxgate-beep: a text-to-speech engine that beeps once per word."""

from collections.abc import Callable, Iterator
from typing import Annotated, ClassVar

import msgspec

from voxgate import (
    ConfigBase,
    InvalidRequestError,
    PcmAudio,
    SpeechOptions,
    TtsEngine,
    Voice,
    VoiceChoice,
    hookimpl,
)


# region config
class BeepConfig(ConfigBase):
    sample_rate: Annotated[int, msgspec.Meta(ge=8000, le=48000)] = 24_000
    frequency_hz: Annotated[float, msgspec.Meta(gt=0, le=4000)] = 440.0
    seconds_per_word: Annotated[float, msgspec.Meta(gt=0, le=5)] = 0.25


class BeepEngine(TtsEngine[BeepConfig]):
    kind: ClassVar[str] = "beep"
    # endregion config

    def load(self) -> None:
        import numpy as np  # noqa: PLC0415 - heavy imports go in load(), not at the top

        self.np = np

    # region voices
    def voices(self) -> list[Voice]:
        return [
            Voice(id="high", name="High", languages=["en"]),
            Voice(id="low", name="Low", languages=["en"]),
        ]

    def check(self, voice: VoiceChoice, options: SpeechOptions) -> None:
        del options  # a beep can be said at any speed
        ids = [known.id for known in self.voices()]
        if voice.voice_id not in ids:
            raise InvalidRequestError(
                f"Voice `{voice.voice_id}` is not available: use one of {', '.join(ids)}.",
                param="voice",
            )

    # endregion voices

    def synthesize(
        self, text: str, voice: VoiceChoice, options: SpeechOptions
    ) -> Iterator[PcmAudio]:
        self.check(voice, options)  # an unknown voice fails before any audio is made
        np = self.np
        cfg = self.config  # a BeepConfig: voxgate decoded the instance's table into it
        frequency = cfg.frequency_hz / 2 if voice.voice_id == "low" else cfg.frequency_hz
        seconds = cfg.seconds_per_word / options.speed
        t = np.arange(round(cfg.sample_rate * seconds)) / cfg.sample_rate
        tone = 0.2 * np.sin(2 * np.pi * frequency * t)
        tone[int(len(tone) * 0.8) :] = 0.0  # the last fifth is a pause between words
        for _word in text.split():
            yield PcmAudio(tone, cfg.sample_rate)  # one chunk per word


@hookimpl
def register_tts_engines(register: Callable[[type[TtsEngine]], None]) -> None:
    register(BeepEngine)
