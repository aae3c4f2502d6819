"""The ``coqui`` TTS kind on tiny VITS models built here from a config with random weights.

No pretrained Coqui weights can be had offline, so each test model is a real VITS (0.35 M
parameters, 1.4 MB) saved as checkpoint and ``config.json`` and loaded back through the real
``TTS(model_path=..., config_path=...)`` path. Its audio is noise-like: never transcribed.
``inference_noise_scale = 0`` makes it deterministic, so voices can be compared sample by
sample.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import wave
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import numpy as np
import pytest

from voxgate import InvalidRequestError, PcmAudio, SpeechOptions, VoiceChoice, hookimpl
from voxgate.testing import TtsEngineContract
from voxgate.testing.contracts import make_engine
from voxgate_coqui import CoquiConfig, CoquiEngine
from voxgate_coqui.clips import clip_voices, resolve_clip
from voxgate_coqui.engine import SENTENCE_PAUSE, check_model_name, find_checkpoint

if importlib.util.find_spec("TTS") is None:  # CI installs it: `pip install -e ".[dev,coqui]"`
    pytest.skip("coqui-tts is not installed (voxgate[coqui])", allow_module_level=True)

SPEAKERS = ("p225", "p226")
SENTENCE = "The quick brown fox jumps over the lazy dog."


def build_vits(directory: Path, speakers: tuple[str, ...] = ()) -> Path:
    """A tiny VITS with random (seeded) weights: ``model.pth`` and ``config.json``.

    Small everywhere it can be (one layer, 32 channels, the plain duration predictor);
    characters, not phonemes, so no espeak is needed. Returns ``directory``.
    """
    import torch
    from TTS.config.shared_configs import BaseAudioConfig
    from TTS.tts.configs.vits_config import VitsArgs, VitsConfig
    from TTS.tts.models.vits import Vits

    torch.manual_seed(0)
    args = VitsArgs(
        hidden_channels=32,
        hidden_channels_ffn_text_encoder=64,
        num_layers_text_encoder=1,
        num_layers_posterior_encoder=1,
        num_layers_flow=1,
        resblock_kernel_sizes_decoder=[3],
        resblock_dilation_sizes_decoder=[[1, 3, 5]],
        upsample_initial_channel_decoder=32,
        use_sdp=False,
        init_discriminator=False,
        inference_noise_scale=0.0,
        use_speaker_embedding=bool(speakers),
        speaker_embedding_channels=16,
    )
    config = VitsConfig(
        model_args=args,
        audio=BaseAudioConfig(sample_rate=16_000),
        use_phonemes=False,
        text_cleaner="english_cleaners",
        speakers=list(speakers),
    )
    model = Vits(config)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict()}, directory / "model.pth")
    config.save_json(str(directory / "config.json"))
    return directory


def build_xtts(directory: Path) -> Path:
    """A tiny XTTS (one GPT layer; the HiFi-GAN decoder keeps XTTS's fixed size, 90 MB).

    A character-level ``vocab.json`` stands in for XTTS's BPE vocabulary. Its stop token is
    outside the audio vocabulary, so every sentence runs to ``gpt_max_audio_tokens`` (12
    tokens, half a second): random weights, deterministic lengths.
    """
    import string

    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts, XttsArgs

    directory.mkdir(parents=True, exist_ok=True)
    specials = ["[STOP]", "[UNK]", "[SPACE]", "[START]", "[en]", "[de]"]
    letters = list(string.ascii_lowercase + string.digits + ".,!?'-")
    vocab = {token: index for index, token in enumerate(specials + letters)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.add_special_tokens(specials)
    tokenizer.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tokenizer.save(str(directory / "vocab.json"))
    torch.manual_seed(0)
    args = XttsArgs(
        gpt_layers=1,
        gpt_n_model_channels=32,
        gpt_n_heads=2,
        gpt_max_audio_tokens=12,
        gpt_num_audio_tokens=66,
        gpt_start_audio_token=64,
        gpt_stop_audio_token=66,
        decoder_input_dim=32,
    )
    config = XttsConfig(model_args=args, languages=["en", "de"])
    model = Xtts(config)
    model.tokenizer = VoiceBpeTokenizer(vocab_file=directory / "vocab.json")
    model.init_models()
    torch.save({"model": model.state_dict()}, directory / "model.pth")
    config.save_json(str(directory / "config.json"))
    return directory


def write_clip(path: Path, seconds: float = 4.0, pitch: float = 220.0) -> Path:
    """A voice-like reference clip: a wobbling tone with a little noise, 16-bit WAV."""
    rate = 22_050
    t = np.arange(round(rate * seconds)) / rate
    noise = np.random.default_rng(0).standard_normal(len(t))
    tone = 0.3 * np.sin(2 * np.pi * pitch * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    samples = np.clip(tone + 0.05 * noise, -1, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


_BUILT: dict[str, Path] = {}


def resolve_tiny_vits(reference: str, context: Any) -> Path:
    """Model source ``tiny-vits:single`` or ``tiny-vits:p225,p226`` (speakers).

    Built once per session, in the cache of the first engine that asks (pytest keeps every
    temporary directory until the session ends).
    """
    if reference not in _BUILT:
        speakers = () if reference == "single" else tuple(reference.split(","))
        directory = context.cache_dir / "tiny-vits" / reference.replace(",", "_")
        _BUILT[reference] = build_vits(directory, speakers)
    return _BUILT[reference]


class TinyVitsSource:
    """A plugin: the tiny models reach the engine as any model source does."""

    @hookimpl
    def register_model_sources(self, register: Any) -> None:
        register("tiny-vits", resolve_tiny_vits)


PLUGINS: list[Any] = [TinyVitsSource()]
SINGLE: dict[str, Any] = {"model_path": "tiny-vits:single", "device": "cpu"}
MULTI: dict[str, Any] = {"model_path": "tiny-vits:" + ",".join(SPEAKERS), "device": "cpu"}


class TestCoquiSingleSpeaker(TtsEngineContract):
    engine = CoquiEngine
    config: ClassVar[dict[str, Any]] = SINGLE
    plugins = PLUGINS


class TestCoquiMultiSpeaker(TtsEngineContract):
    engine = CoquiEngine
    config: ClassVar[dict[str, Any]] = MULTI
    plugins = PLUGINS
    voice = "p226"


def _make(tmp: Path, base: dict[str, Any], **overrides: Any) -> CoquiEngine:
    engine = make_engine(CoquiEngine, {**base, **overrides}, PLUGINS, tmp)
    assert isinstance(engine, CoquiEngine)
    return engine


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("coqui")


@pytest.fixture(scope="module")
def single(cache: Path):
    engine = _make(cache, SINGLE)
    engine.load()
    yield engine
    engine.unload()


@pytest.fixture(scope="module")
def multi(cache: Path):
    engine = _make(cache, MULTI, voices={"narrator": {"speaker": "p226"}})
    engine.load()
    yield engine
    engine.unload()


def _say(engine: CoquiEngine, text: str = SENTENCE, **choice: Any) -> list[PcmAudio]:
    choice.setdefault("voice_id", "")
    return list(engine.synthesize(text, VoiceChoice(**choice), SpeechOptions()))


def _joined(chunks: list[PcmAudio]) -> PcmAudio:
    assert chunks
    return PcmAudio.concat(chunks, chunks[0].sample_rate)


# -- voices ---------------------------------------------------------------------------------------


def test_a_one_speaker_model_offers_one_voice_named_after_the_instance(single: CoquiEngine):
    [voice] = single.voices()
    assert voice.id == "contract"  # make_engine's instance name
    assert voice.languages == []
    assert _say(single, voice_id="contract")


def test_a_multi_speaker_model_offers_configured_voices_then_speakers(multi: CoquiEngine):
    voices = multi.voices()
    assert [v.id for v in voices] == ["narrator", "p225", "p226"]
    assert voices[0].name == "narrator (speaker p226)"


def test_speakers_sound_different_and_each_the_same_every_time(multi: CoquiEngine):
    first = _joined(_say(multi, voice_id="p225")).samples
    again = _joined(_say(multi, voice_id="p225")).samples
    other = _joined(_say(multi, voice_id="p226")).samples
    assert np.array_equal(first, again), "inference_noise_scale = 0: deterministic"
    assert len(first) != len(other) or not np.allclose(first, other)


@pytest.mark.parametrize(
    "choice",
    [
        {"voice_id": "narrator"},
        {"voice_id": "contract"},  # the instance's name: the default voice (narrator)
        {"voice_id": ""},
        {"voice_id": "alloy", "speaker": "p226"},  # a map_voice plugin's speaker wins
        {"voice_id": "alloy", "speaker": 1},  # by index
    ],
)
def test_every_way_of_naming_p226_gives_its_audio(multi: CoquiEngine, choice: dict[str, Any]):
    expected = _joined(_say(multi, voice_id="p226")).samples
    assert np.array_equal(_joined(_say(multi, **choice)).samples, expected)


@pytest.mark.parametrize(
    "choice",
    [
        {"voice_id": "alloy"},
        {"voice_id": "p227"},
        {"voice_id": "p225", "speaker": "nobody"},
        {"voice_id": "p225", "speaker": 7},
        {"voice_id": "p225", "speaker_wav": ["clip.wav"]},  # this VITS does not clone
    ],
)
def test_unknown_voices_are_a_400_before_any_work(multi: CoquiEngine, choice: dict[str, Any]):
    with pytest.raises(InvalidRequestError) as caught:
        next(multi.synthesize(SENTENCE, VoiceChoice(**choice), SpeechOptions()))
    assert caught.value.param == "voice"


def test_a_one_speaker_model_refuses_other_voice_names(single: CoquiEngine):
    with pytest.raises(InvalidRequestError) as caught:
        next(single.synthesize(SENTENCE, VoiceChoice(voice_id="alloy"), SpeechOptions()))
    assert caught.value.param == "voice"


def test_a_one_language_model_speaks_whatever_language_is_asked(single: CoquiEngine):
    options = SpeechOptions(language="de")
    assert list(single.synthesize("Guten Tag.", VoiceChoice(voice_id=""), options))


# -- audio ----------------------------------------------------------------------------------------


def test_chunks_are_one_per_sentence_with_a_pause_between(single: CoquiEngine):
    chunks = _say(single, "One sentence here. Another one there! And a third?")
    assert len(chunks) == 5
    pauses = chunks[1::2]
    assert all(len(p) == round(SENTENCE_PAUSE * p.sample_rate) for p in pauses)
    assert all(not p.samples.any() for p in pauses)
    for chunk in chunks[::2]:
        assert chunk.sample_rate == 16_000
        assert chunk.samples.dtype == np.float32
        assert chunk.duration > 0.1
        assert chunk.samples[-1] != 0, "Coqui's trailing pad of zeros is cut"


def test_closing_after_the_first_sentence_synthesizes_no_more(single: CoquiEngine):
    generator = single.synthesize(
        "First sentence. Second sentence. Third sentence.",
        VoiceChoice(voice_id=""),
        SpeechOptions(),
    )
    first = next(generator)
    generator.close()
    assert first.duration > 0.1
    assert next(generator, None) is None


def test_text_without_words_yields_nothing(single: CoquiEngine):
    assert _say(single, "   ") == []


# -- configuration --------------------------------------------------------------------------------


def test_config_defaults():
    config = msgspec.convert({"model": "tts_models/en/ljspeech/vits"}, CoquiConfig)
    assert config.device == "auto"
    assert config.voices == {}
    assert config.stream_chunk_size == 20


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "exactly one of `model`"),
        ({"model": "a", "model_path": "b"}, "exactly one of `model`"),
        ({"model": "a", "config_path": "c.json"}, "`config_path` goes with `model_path`"),
        ({"model": "a", "voices": {"x": {}}}, "exactly one of `speaker` and `speaker_wav`"),
        ({"model": "a", "voices": {"x": {"speaker": "a", "speaker_wav": "a.wav"}}}, "exactly one"),
        ({"model": "a", "voices": {"x": {"speaker_wav": []}}}, "non-empty list"),
        ({"model": "a", "stream_chunk_size": 0}, ">= 1"),
    ],
)
def test_config_mistakes_are_reported_before_loading(options: dict[str, Any], message: str):
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.convert(options, CoquiConfig)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"voices": {"x": {"speaker": "p999"}}}, "voices.x: speaker `p999` is not one"),
        ({"voices": {"x": {"speaker_wav": "a.wav"}}}, "voices.x: this model does not clone"),
        ({"voices": {"p225": {"speaker": "p226"}}}, "`p225` is both a configured voice"),
        ({"default_voice": "alloy"}, "default_voice `alloy` is not a voice"),
        ({"speakers_dir": "."}, "does not clone voices from clips"),
        ({"device": "cuda"}, "sees no CUDA GPU"),
        ({"device": "abacus"}, "is not a PyTorch device"),
    ],
)
def test_load_names_what_is_wrong(cache: Path, overrides: dict[str, Any], message: str):
    engine = _make(cache, MULTI, **overrides)
    with pytest.raises(ValueError, match=message):
        engine.load()


def test_a_checkpoint_is_found_in_its_directory(tmp_path: Path):
    (tmp_path / "speakers_xtts.pth").write_bytes(b"")
    (tmp_path / "model.pth").write_bytes(b"")
    assert find_checkpoint(tmp_path) == tmp_path / "model.pth"  # XTTS's directory
    assert find_checkpoint(tmp_path / "model.pth") == tmp_path / "model.pth"
    (tmp_path / "model.pth").unlink()
    assert find_checkpoint(tmp_path) == tmp_path / "speakers_xtts.pth"  # the only one
    (tmp_path / "other.pth").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="no single checkpoint"):
        find_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_checkpoint(tmp_path / "nowhere")


def test_model_names_are_checked_before_any_download(tmp_path: Path, monkeypatch):
    from TTS.utils.manage import ModelManager

    manager = ModelManager(output_prefix=tmp_path, progress_bar=False)
    check_model_name(manager, "tts_models/en/ljspeech/vits")
    check_model_name(manager, "tts_models/deu/fairseq/vits")
    with pytest.raises(ValueError, match="not in Coqui's model list"):
        check_model_name(manager, "tts_models/en/ljspeech/nothing")
    with pytest.raises(ValueError, match="not a Coqui TTS model name"):
        check_model_name(manager, "vocoder_models/en/ljspeech/hifigan_v2")
    xtts = "tts_models/multilingual/multi-dataset/xtts_v2"
    monkeypatch.delenv("COQUI_TOS_AGREED", raising=False)
    with pytest.raises(ValueError, match="COQUI_TOS_AGREED=1"):
        check_model_name(manager, xtts)
    monkeypatch.setenv("COQUI_TOS_AGREED", "1")
    check_model_name(manager, xtts)


def test_an_unknown_model_name_fails_the_load_offline(tmp_path: Path):
    engine = _make(tmp_path, {"model": "tts_models/en/nowhere/vits", "device": "cpu"})
    with pytest.raises(ValueError, match="not in Coqui's model list"):
        engine.load()


# -- reference clips ------------------------------------------------------------------------------


def test_clip_voices_are_files_and_folders(tmp_path: Path):
    (tmp_path / "alice.wav").write_bytes(b"")
    (tmp_path / "carol.MP3").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not audio")
    (tmp_path / ".hidden.wav").write_bytes(b"")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "1.flac").write_bytes(b"")
    (tmp_path / "bob" / "2.wav").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    assert clip_voices(tmp_path) == {
        "alice": (tmp_path / "alice.wav",),
        "bob": (tmp_path / "bob" / "1.flac", tmp_path / "bob" / "2.wav"),
        "carol": (tmp_path / "carol.MP3",),
    }
    (tmp_path / "alice.ogg").write_bytes(b"")
    with pytest.raises(ValueError, match="two clips or folders for voice `alice`"):
        clip_voices(tmp_path)
    assert resolve_clip("alice.wav", tmp_path) == tmp_path / "alice.wav"
    assert resolve_clip(str(tmp_path / "bob" / "1.flac"), None) == tmp_path / "bob" / "1.flac"
    with pytest.raises(FileNotFoundError, match="relative paths are read from"):
        resolve_clip("dave.wav", tmp_path)


# -- cost of the kind -----------------------------------------------------------------------------


def test_the_default_install_never_imports_torch():
    """Registering the kind and building the app on the default config stay torch-free."""
    script = textwrap.dedent(
        """
        import sys
        import voxgate_coqui
        from voxgate.app import create_app
        from voxgate.config import load_config
        from voxgate.plugins.hooks import Hooks
        from voxgate.plugins.manager import make_plugin_manager

        pm = make_plugin_manager(trace=False)
        hooks = Hooks(pm)
        assert "coqui" in hooks.registry.tts, sorted(hooks.registry.tts)
        create_app(load_config(None, hooks), pm)
        heavy = ["torch", "torchaudio", "TTS", "transformers"]
        print(json.dumps([name for name in heavy if name in sys.modules]))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXGATE_")}
    result = subprocess.run(
        [sys.executable, "-c", "import json\n" + script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


# -- XTTS: streaming and cloning ------------------------------------------------------------------


@pytest.fixture(scope="module")
def xtts(tmp_path_factory: pytest.TempPathFactory):
    """A tiny XTTS with clip voices (``alice.wav``, ``bob/`` of two) and a named German voice."""
    root = tmp_path_factory.mktemp("xtts")
    speakers = root / "speakers"
    write_clip(speakers / "alice.wav")
    write_clip(speakers / "bob" / "1.wav", pitch=140.0)
    write_clip(speakers / "bob" / "2.wav", seconds=2.0, pitch=150.0)
    engine = _make(
        root / "cache",
        {"model_path": str(build_xtts(root / "model")), "device": "cpu"},
        speakers_dir=str(speakers),
        stream_chunk_size=4,
        voices={"berta": {"speaker_wav": "alice.wav", "language": "de"}},
    )
    engine.load()
    yield engine
    engine.unload()


def test_xtts_offers_named_voices_then_clip_voices(xtts: CoquiEngine):
    voices = {voice.id: (voice.name, voice.languages) for voice in xtts.voices()}
    assert voices == {
        "berta": ("berta (clone of alice.wav)", ["de"]),
        "alice": ("alice (clone of alice.wav)", ["en"]),
        "bob": ("bob (clone of 1.wav, 2.wav)", ["en"]),
    }


def test_xtts_streams_each_sentence_in_chunks(xtts: CoquiEngine):
    chunks = _say(xtts, "Hello there. How are you?", voice_id="bob")
    sentences = [chunks[:3], chunks[4:]]
    assert [len(sentence) for sentence in sentences] == [3, 3], "12 tokens, 4 per chunk"
    assert not chunks[3].samples.any()
    assert chunks[3].duration == pytest.approx(SENTENCE_PAUSE)
    for chunk in chunks:
        assert chunk.sample_rate == 24_000
        assert chunk.samples.dtype == np.float32
    for sentence in sentences:  # 12 tokens of 1024 samples at 22.05 kHz, less the cross-fades
        speech = _joined(sentence)
        assert 0.3 < speech.duration < 0.6
        assert float(np.sqrt(np.mean(speech.samples**2))) > 1e-3


def test_xtts_computes_the_latents_of_each_clip_set_once(xtts: CoquiEngine):
    loaded = xtts._loaded
    assert loaded is not None
    clones = dict(loaded.clones)
    assert len(clones) == 2, "alice.wav (berta and alice) and bob's two clips"
    _say(xtts, "Hi.", voice_id="alloy", speaker_wav=["alice.wav"])  # from a map_voice plugin
    assert loaded.clones == clones, "the same clip: no second cloning"


def test_xtts_closing_mid_sentence_stops_the_stream(xtts: CoquiEngine):
    generator = xtts.synthesize("Hello there.", VoiceChoice(voice_id="alice"), SpeechOptions())
    first = next(generator)
    generator.close()
    assert first.duration > 0.1
    assert next(generator, None) is None


@pytest.mark.parametrize(
    ("choice", "options", "param"),
    [
        ({"voice_id": "alice", "language": "fr"}, {}, "language"),
        ({"voice_id": "alice"}, {"language": "ja"}, "language"),
        ({"voice_id": "carol"}, {}, "voice"),
        ({"voice_id": "alice", "speaker_wav": ["carol.wav"]}, {}, "voice"),
        ({"voice_id": "alice", "speaker": "Ana Florence"}, {}, "voice"),  # no speakers file
    ],
)
def test_xtts_checks_voice_and_language_first(
    xtts: CoquiEngine, choice: dict[str, Any], options: dict[str, Any], param: str
):
    with pytest.raises(InvalidRequestError) as caught:
        next(xtts.synthesize("Hello.", VoiceChoice(**choice), SpeechOptions(**options)))
    assert caught.value.param == param


def test_xtts_takes_regional_language_tags(xtts: CoquiEngine):
    chunks = _say(xtts, "Guten Tag.", voice_id="alice", language="de-DE")
    assert len(chunks) == 3
