"""Reusable engine contract suites: subclass them in your tests, set a few attributes.

    class TestMyEngine(TtsEngineContract):
        engine = MyEngine
        config = {"model": "pkg:my-weights"}
        plugins = [my_model_source_plugin]   # model sources the config needs, if any

Built-in engines run these exact suites, as third-party plugins do.
"""

from __future__ import annotations

import gc
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
import numpy as np
import pytest

from voxgate.engines.audio import PcmAudio
from voxgate.engines.base import (
    ComponentContext,
    EngineBase,
    Segment,
    SpeechOptions,
    SttCapabilities,
    SttEngine,
    TranscribeOptions,
    TtsCapabilities,
    TtsEngine,
    Voice,
    VoiceChoice,
)
from voxgate.engines.stream import PcmStream
from voxgate.errors import InvalidRequestError
from voxgate.models.sources import ModelSourceContext, ModelSources
from voxgate.plugins.hooks import Hooks
from voxgate.plugins.manager import make_plugin_manager
from voxgate.schema import ConfigBase

if TYPE_CHECKING:
    from collections.abc import Iterator


def make_engine(
    engine: type[EngineBase], config: dict[str, Any], plugins: list[Any], cache_dir: Path
) -> EngineBase:
    """Instantiate ``engine`` the way the pool does, with the model sources of ``plugins``."""
    pm = make_plugin_manager(plugins=plugins, entry_points_enabled=False, trace=False)
    sources = ModelSources(Hooks(pm).registry.model_source, ModelSourceContext(cache_dir=cache_dir))
    options = msgspec.convert(config, engine.Config)
    context = ComponentContext(
        instance="contract", cache_dir=cache_dir, resolve_model_path=sources.resolve
    )
    return engine(options, context)


class _EngineContract:
    engine: ClassVar[type[EngineBase]]
    config: ClassVar[dict[str, Any]] = {}
    plugins: ClassVar[list[Any]] = []

    @pytest.fixture(scope="class")
    @classmethod
    def loaded(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
        """One loaded engine shared by the class's tests (loading real models is slow)."""
        instance = make_engine(
            cls.engine, dict(cls.config), list(cls.plugins), tmp_path_factory.mktemp("cache")
        )
        instance.load()
        yield instance
        instance.unload()

    def test_kind_and_config_are_declared(self) -> None:
        assert isinstance(self.engine.kind, str)
        assert self.engine.kind
        assert issubclass(self.engine.Config, ConfigBase)
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert({**self.config, "surely_not_an_option": 1}, self.engine.Config)

    def test_unload_then_load_again(self, tmp_path: Path) -> None:
        instance = make_engine(self.engine, dict(self.config), list(self.plugins), tmp_path)
        instance.load()
        instance.unload()
        gc.collect()
        instance.load()
        instance.unload()


def _check_chunk(chunk: object) -> PcmAudio:
    assert isinstance(chunk, PcmAudio), f"synthesize must yield PcmAudio, got {type(chunk)}"
    assert chunk.samples.dtype == np.float32
    assert chunk.samples.ndim == 1
    assert chunk.sample_rate > 0
    assert np.isfinite(chunk.samples).all()
    assert float(np.abs(chunk.samples).max(initial=0.0)) <= 1.5, "samples must be in [-1, 1]"
    return chunk


class TtsEngineContract(_EngineContract):
    """What every TTS engine guarantees to voxgate's speech service."""

    engine: ClassVar[type[TtsEngine]]
    text: ClassVar[str] = "The quick brown fox jumps over the lazy dog."
    voice: ClassVar[str | None] = None  # default: the first of voices()

    def _voice(self, loaded: TtsEngine) -> VoiceChoice:
        return VoiceChoice(voice_id=self.voice or loaded.voices()[0].id)

    def _synthesize(self, loaded: TtsEngine, **options: Any) -> PcmAudio:
        chunks = [
            _check_chunk(c)
            for c in loaded.synthesize(self.text, self._voice(loaded), SpeechOptions(**options))
        ]
        assert chunks, "synthesize yielded nothing"
        return PcmAudio.concat(chunks, chunks[0].sample_rate)

    def test_capabilities_declared(self) -> None:
        assert isinstance(self.engine.capabilities, TtsCapabilities)

    def test_voices(self, loaded: TtsEngine) -> None:
        voices = loaded.voices()
        assert voices, "an engine offers at least one voice"
        assert all(isinstance(v, Voice) and v.id for v in voices)
        assert len({v.id for v in voices}) == len(voices), "voice ids are unique"

    def test_yields_float32_mono_audio(self, loaded: TtsEngine) -> None:
        audio = self._synthesize(loaded)
        assert audio.duration > 0.3, "a sentence takes more than 0.3 s to say"
        assert float(np.sqrt(np.mean(audio.samples**2))) > 1e-3, "the audio is not silent"

    def test_speed_changes_duration(self, loaded: TtsEngine) -> None:
        if not self.engine.capabilities.native_speed:
            pytest.skip("speed is applied by the service's tempo filter, not the engine")
        normal = self._synthesize(loaded).duration
        fast = self._synthesize(loaded, speed=2.0).duration
        slow = self._synthesize(loaded, speed=0.5).duration
        assert fast < normal < slow
        assert math.isclose(normal / fast, 2.0, rel_tol=0.3)

    def test_check_accepts_its_voices_and_rejects_others(self, loaded: TtsEngine) -> None:
        loaded.check(self._voice(loaded), SpeechOptions())
        with pytest.raises(InvalidRequestError) as caught:
            loaded.check(VoiceChoice(voice_id="no-such-voice-anywhere"), SpeechOptions())
        assert caught.value.param == "voice"

    def test_can_stop_early(self, loaded: TtsEngine) -> None:
        generator = loaded.synthesize(
            self.text + " " + self.text, self._voice(loaded), SpeechOptions()
        )
        _check_chunk(next(iter(generator)))
        close = getattr(generator, "close", None)
        if close is not None:
            close()


class SttEngineContract(_EngineContract):
    """What every STT engine guarantees to voxgate's transcription service.

    Set ``audio`` to a path of a speech recording (any format ``load_audio`` reads: WAV with
    the stdlib) and ``expected_words`` to words that must appear in its transcript.
    """

    engine: ClassVar[type[SttEngine]]
    audio: ClassVar[Path | None] = None
    expected_words: ClassVar[list[str]] = []

    def load_audio(self, sample_rate: int) -> PcmAudio:
        """The test audio at the engine's rate; override to use another decoder."""
        from voxgate.testing.fakes import WavTranscoder, tone  # noqa: PLC0415

        if self.audio is None:
            return tone(3.0, sample_rate)
        context = ComponentContext(instance="contract", cache_dir=Path(), resolve_model_path=Path)
        decoder = WavTranscoder(WavTranscoder.Config(), context)
        return decoder.decode(Path(self.audio).read_bytes(), sample_rate)

    def _segments(self, loaded: SttEngine, **options: Any) -> list[Segment]:
        audio = self.load_audio(loaded.sample_rate)
        return list(loaded.transcribe(audio, TranscribeOptions(**options)))

    def test_capabilities_declared(self) -> None:
        assert isinstance(self.engine.capabilities, SttCapabilities)
        assert self.engine.sample_rate > 0

    def test_segments_are_ordered_and_timed(self, loaded: SttEngine) -> None:
        segments = self._segments(loaded)
        assert all(isinstance(s, Segment) for s in segments)
        for seg in segments:
            assert 0 <= seg.start <= seg.end
        starts = [s.start for s in segments]
        assert starts == sorted(starts)
        text = "".join(s.text for s in segments).lower()
        for word in self.expected_words:
            assert word.lower() in text, f"{word!r} not in transcript {text!r}"

    def test_word_timestamps(self, loaded: SttEngine) -> None:
        if not self.engine.capabilities.word_timestamps:
            pytest.skip("engine has no word timestamps")
        segments = self._segments(loaded, word_timestamps=True)
        words = [w for s in segments for w in (s.words or [])]
        if self.expected_words:
            assert words, "word_timestamps=True gives words"
        for seg in segments:
            for word in seg.words or []:
                assert seg.start - 0.5 <= word.start <= word.end <= seg.end + 0.5

    def test_transcribe_stream_reads_an_upload_like_transcribe(self, loaded: SttEngine) -> None:
        """HTTP uploads arrive as a ``PcmStream`` decoded in pieces: the result is the same."""
        audio = self.load_audio(loaded.sample_rate)
        direct = list(loaded.transcribe(audio, TranscribeOptions()))
        size = loaded.sample_rate // 3 + 7  # pieces that line up with nothing
        pieces = (audio.samples[i : i + size] for i in range(0, len(audio), size))
        upload = PcmStream(pieces, loaded.sample_rate, expected_seconds=audio.duration)
        streamed = list(loaded.transcribe_stream(upload, TranscribeOptions()))
        assert [(s.start, s.end, s.text) for s in streamed] == [
            (s.start, s.end, s.text) for s in direct
        ]
        assert upload.exhausted, "the engine read the whole upload"
        window = loaded.stream_window_seconds()
        assert window >= 0

    def test_can_stop_early(self, loaded: SttEngine) -> None:
        generator = loaded.transcribe(self.load_audio(loaded.sample_rate), TranscribeOptions())
        first = next(iter(generator), None)
        assert first is None or isinstance(first, Segment)
        close = getattr(generator, "close", None)
        if close is not None:
            close()
