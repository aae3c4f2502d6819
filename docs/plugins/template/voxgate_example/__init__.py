"""A sine-tone TTS engine: the smallest complete voxgate plugin.

Every word becomes a tone whose length follows the word's length. Copy this package to start a
plugin: rename ``voxgate_example`` and the ``example`` kind, then put a real model in ``load()``
and ``synthesize()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar

import msgspec
from voxgate import (
    ConfigBase,
    InvalidRequestError,
    PcmAudio,
    SpeechOptions,
    TtsCapabilities,
    TtsEngine,
    Voice,
    VoiceChoice,
    hookimpl,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import ModuleType

SECONDS_PER_LETTER = 0.08
AMPLITUDE = 0.2


class ExampleConfig(ConfigBase):
    """The options of a ``[tts.<name>]`` table with ``kind = "example"``.

    ``ConfigBase`` forbids unknown keys, and the constraints are checked by
    ``voxgate check-config``, which reports each problem with its TOML path.
    """

    sample_rate: Annotated[
        int, msgspec.Meta(ge=8000, le=48000, description="Sample rate of the tone, in Hz.")
    ] = 24_000
    frequency_hz: Annotated[float, msgspec.Meta(gt=0, description="Pitch of the tone, in Hz.")] = (
        440.0
    )


class ExampleEngine(TtsEngine[ExampleConfig]):
    """Says every word as a tone; ``speed`` shortens the tones, so speed is native."""

    kind: ClassVar[str] = "example"
    capabilities: ClassVar[TtsCapabilities] = TtsCapabilities(native_speed=True)

    _np: ModuleType | None = None

    def load(self) -> None:
        """Runs once in the instance's worker thread, at start-up (preload) or on first use."""
        # Heavy imports (torch, onnxruntime) and weights belong here, never at module level:
        # `voxgate plugins` and `voxgate check-config` import this module without loading it.
        import numpy as np

        self._np = np

    def unload(self) -> None:
        """Drop what ``load()`` made; voxgate calls it on ``idle_ttl`` and at shutdown."""
        self._np = None

    def voices(self) -> list[Voice]:
        """The voices this engine offers."""
        return [Voice(id="tone", name="Tone", languages=["en"])]

    def check(self, voice: VoiceChoice, options: SpeechOptions) -> None:
        """Reject what this engine cannot do, cheaply: voxgate calls it before responding."""
        if voice.voice_id != "tone":
            # `param` names the request field at fault: the client gets a 400 about `voice`
            msg = f"Voice `{voice.voice_id}` is not available; this engine has `tone`."
            raise InvalidRequestError(msg, param="voice")

    def synthesize(
        self, text: str, voice: VoiceChoice, options: SpeechOptions
    ) -> Iterator[PcmAudio]:
        """Yield one chunk per word: a plain generator, run in the instance's worker thread."""
        np = self._np
        if np is None:
            msg = "ExampleEngine.synthesize called before load()"
            raise RuntimeError(msg)
        self.check(voice, options)
        cfg = self.config  # voxgate decoded the table into ExampleConfig
        for word in text.split():
            seconds = SECONDS_PER_LETTER * len(word) / options.speed
            t = np.arange(round(cfg.sample_rate * seconds), dtype=np.float32) / cfg.sample_rate
            yield PcmAudio(AMPLITUDE * np.sin(2 * np.pi * cfg.frequency_hz * t), cfg.sample_rate)


@hookimpl
def register_tts_engines(register: Callable[[type[TtsEngine]], None]) -> None:
    """Make the ``example`` kind available to ``[tts.<name>]`` tables."""
    register(ExampleEngine)
