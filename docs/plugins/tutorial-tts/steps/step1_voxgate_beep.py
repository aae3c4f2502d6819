from collections.abc import Callable, Iterator

from voxgate import PcmAudio, SpeechOptions, TtsEngine, Voice, VoiceChoice, hookimpl


class BeepEngine(TtsEngine):
    kind = "beep"

    def load(self) -> None:
        import numpy as np  # noqa: PLC0415 - heavy imports go in load(), not at the top

        self.np = np

    def voices(self) -> list[Voice]:
        return [Voice(id="beep", name="Beep")]

    def synthesize(
        self, text: str, voice: VoiceChoice, options: SpeechOptions
    ) -> Iterator[PcmAudio]:
        del text, voice, options  # for now: one beep, whatever the request
        np = self.np
        t = np.arange(24_000) / 24_000  # one second at 24 kHz
        yield PcmAudio(0.2 * np.sin(2 * np.pi * 440 * t), 24_000)


@hookimpl
def register_tts_engines(register: Callable[[type[TtsEngine]], None]) -> None:
    register(BeepEngine)
