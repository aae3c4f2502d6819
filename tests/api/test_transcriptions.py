"""/v1/audio/transcriptions and /translations in-process: every format, stream, form and error.

The fake STT engine yields one scripted segment per second of audio, so what the service
does with segments (joining, timestamps, formats, events) is checked exactly here; the real
engine's accuracy is tested in tests/engines and tests/contract.
"""

from __future__ import annotations

import json

import openai
import pytest

from tests.conftest import FAKE_TOML
from voxgate.engines.base import VadOptions
from voxgate.testing import app_client, openai_client
from voxgate.testing.fakes import FakeSttEngine, tone, wav_bytes

AUDIO = wav_bytes(tone(3.0, 16_000))
SENTENCE = "Hello from the fake engine."
TEXT = " ".join([SENTENCE] * 3)


@pytest.fixture
def sdk(plugins):
    return lambda toml=FAKE_TOML: openai_client(toml, plugins)


async def test_json_is_text_and_duration_usage(sdk):
    async with sdk() as client:
        result = await client.audio.transcriptions.create(model="whisper-1", file=AUDIO)
    assert result.text == TEXT
    assert result.usage is not None
    assert result.usage.type == "duration"
    assert result.usage.seconds == 3


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
async def test_text_formats_are_raw_bodies(plugins, fmt):
    async with app_client(FAKE_TOML, plugins) as http:
        response = await http.post(
            "/v1/audio/transcriptions",
            data={"model": "whisper-1", "response_format": fmt},
            files={"file": ("upload", AUDIO, "application/octet-stream")},
        )
    assert response.status_code == 200
    media_type = "text/vtt" if fmt == "vtt" else "text/plain"
    assert response.headers["content-type"] == f"{media_type}; charset=utf-8", "charset once"
    body = response.text
    assert not body.startswith('"'), "never JSON-quoted"
    if fmt == "text":
        assert body == TEXT + "\n"
    elif fmt == "srt":
        assert body.startswith(
            "1\n00:00:00,000 --> 00:00:01,000\nHello from the fake engine.\n\n2\n"
        )
        assert body.count(" --> ") == 3
    else:
        assert body.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHello")
        assert "00:00:02.000 --> 00:00:03.000" in body


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("text", "text/plain; charset=utf-8"), ("srt", "text/plain; charset=utf-8")],
)
async def test_translation_text_formats_name_their_charset_once(plugins, fmt, content_type):
    async with app_client(FAKE_TOML, plugins) as http:
        response = await http.post(
            "/v1/audio/translations",
            data={"model": "whisper-1", "response_format": fmt},
            files={"file": ("upload", AUDIO, "application/octet-stream")},
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type


async def test_sdk_returns_text_formats_as_str(sdk):
    async with sdk() as client:
        srt = await client.audio.transcriptions.create(
            model="whisper-1", file=AUDIO, response_format="srt"
        )
        text = await client.audio.transcriptions.create(
            model="whisper-1", file=AUDIO, response_format="text"
        )
    assert isinstance(srt, str)
    assert srt.splitlines()[:3] == ["1", "00:00:00,000 --> 00:00:01,000", SENTENCE]
    assert text.strip() == TEXT


async def test_verbose_json_segments_by_default(sdk):
    async with sdk() as client:
        result = await client.audio.transcriptions.create(
            model="whisper-1", file=AUDIO, response_format="verbose_json"
        )
    assert result.language == "english"
    assert result.duration == 3.0
    assert result.text == TEXT
    assert result.words is None
    assert [s.id for s in result.segments] == [0, 1, 2]
    assert [(s.start, s.end) for s in result.segments] == [(0, 1), (1, 2), (2, 3)]
    segment = result.segments[0].model_dump()
    assert set(segment) >= {
        "id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob",
        "compression_ratio", "no_speech_prob",
    }  # fmt: skip
    assert result.usage.type == "duration"
    assert result.model_extra["task"] == "transcribe"
    assert FakeSttEngine.last_options.word_timestamps is False


async def test_verbose_json_words_and_segments(sdk):
    async with sdk() as client:
        result = await client.audio.transcriptions.create(
            model="whisper-1",
            file=AUDIO,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    assert FakeSttEngine.last_options.word_timestamps is True
    assert len(result.segments) == 3
    assert [w.word for w in result.words[:5]] == ["Hello", "from", "the", "fake", "engine."]
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert all(0 <= w.start <= w.end <= 3.0 for w in result.words)


async def test_only_word_granularity_leaves_out_segments(sdk):
    async with sdk() as client:
        result = await client.audio.transcriptions.create(
            model="whisper-1",
            file=AUDIO,
            response_format="verbose_json",
            timestamp_granularities=["word"],
        )
    assert result.segments is None
    assert len(result.words) == 15


async def test_stream_sends_deltas_then_done_equal_to_the_text(sdk):
    async with sdk() as client:
        plain = await client.audio.transcriptions.create(model="whisper-1", file=AUDIO)
        stream = await client.audio.transcriptions.create(
            model="whisper-1", file=AUDIO, stream=True
        )
        events = [event async for event in stream]
    types = [e.type for e in events]
    assert types == ["transcript.text.delta"] * 3 + ["transcript.text.done"]
    assert "".join(e.delta for e in events[:-1]) == events[-1].text == plain.text
    usage = events[-1].usage
    assert usage.type == "tokens"
    assert usage.output_tokens == 15
    assert usage.input_tokens == usage.input_token_details.audio_tokens == 150
    assert usage.total_tokens == 165


BARE_TOML = FAKE_TOML.replace(
    'kind = "fake-stt"', 'kind = "fake-stt"\ntexts = ["Hello.", "World."]\nleading_space = false'
)


async def test_segments_without_a_leading_space_are_joined_with_one(sdk, plugins):
    """``"Hello."`` and ``"World."`` are ``"Hello. World."`` in every format that joins text."""
    two = wav_bytes(tone(2.0, 16_000))
    async with sdk(BARE_TOML) as client:
        plain = await client.audio.transcriptions.create(model="whisper-1", file=two)
        verbose = await client.audio.transcriptions.create(
            model="whisper-1", file=two, response_format="verbose_json"
        )
        stream = await client.audio.transcriptions.create(model="whisper-1", file=two, stream=True)
        events = [event async for event in stream]
    assert plain.text == verbose.text == "Hello. World."
    assert [s.text for s in verbose.segments] == ["Hello.", "World."], "segments stay as made"
    assert [e.delta for e in events[:-1]] == ["Hello.", " World."]
    assert events[-1].text == "Hello. World."
    async with app_client(BARE_TOML, plugins) as http:
        response = await http.post(
            "/v1/audio/transcriptions",
            data={"model": "whisper-1", "response_format": "text"},
            files={"file": ("upload", two, "audio/wav")},
        )
    assert response.text == "Hello. World.\n"


async def test_logprobs_in_json_and_stream(sdk):
    async with sdk() as client:
        result = await client.audio.transcriptions.create(
            model="whisper-1", file=AUDIO, include=["logprobs"]
        )
        stream = await client.audio.transcriptions.create(
            model="whisper-1", file=AUDIO, include=["logprobs"], stream=True
        )
        events = [event async for event in stream]
    assert len(result.logprobs) == 15
    first = result.logprobs[0]
    assert first.token == " Hello"
    assert first.logprob == -0.25
    assert bytes(int(b) for b in first.bytes).decode() == " Hello"
    assert len(events[0].logprobs) == 5
    assert len(events[-1].logprobs) == 15


async def test_logprobs_from_an_engine_without_them_is_400(plugins, monkeypatch):
    monkeypatch.setattr(
        FakeSttEngine,
        "capabilities",
        FakeSttEngine.capabilities.__class__(translate=True, word_timestamps=True),
    )
    async with openai_client(FAKE_TOML, plugins) as client:
        with pytest.raises(openai.BadRequestError) as info:
            await client.audio.transcriptions.create(
                model="whisper-1", file=AUDIO, include=["logprobs"]
            )
    assert info.value.body["param"] == "include"


async def test_translation_json_and_verbose(sdk):
    async with sdk() as client:
        plain = await client.audio.translations.create(model="whisper-1", file=AUDIO)
        verbose = await client.audio.translations.create(
            model="whisper-1", file=AUDIO, response_format="verbose_json"
        )
    assert plain.text == TEXT
    assert "usage" not in plain.model_dump(exclude_none=True)
    assert verbose.language == "english"
    assert verbose.model_extra["task"] == "translate"
    assert len(verbose.segments) == 3
    assert "words" not in verbose.model_dump(exclude_none=True)
    assert FakeSttEngine.last_options.task == "translate"


async def test_translation_by_an_english_only_engine_is_400(plugins):
    toml = FAKE_TOML.replace(
        'kind = "fake-stt"', 'kind = "fake-stt"\ntranslate = false\nlanguages = ["en"]', 1
    )
    async with openai_client(toml, plugins) as client:
        with pytest.raises(openai.BadRequestError) as info:
            await client.audio.translations.create(model="whisper-1", file=AUDIO)
        assert info.value.body["param"] == "model"
        assert "cannot translate" in info.value.body["message"]
        with pytest.raises(openai.BadRequestError) as info:
            await client.audio.transcriptions.create(model="whisper-1", file=AUDIO, language="de")
        assert info.value.body["param"] == "language"
        ok = await client.audio.transcriptions.create(model="whisper-1", file=AUDIO, language="en")
    assert ok.text == TEXT


async def test_language_codes_and_names(sdk):
    async with sdk() as client:
        await client.audio.transcriptions.create(model="whisper-1", file=AUDIO, language="es")
        assert FakeSttEngine.last_options.language == "es"
        verbose = await client.audio.transcriptions.create(
            model="whisper-1", file=AUDIO, language="German", response_format="verbose_json"
        )
        assert FakeSttEngine.last_options.language == "de"
        assert verbose.language == "german"
        with pytest.raises(openai.BadRequestError) as info:
            await client.audio.transcriptions.create(model="whisper-1", file=AUDIO, language="xx")
    assert info.value.body["param"] == "language"


async def test_prompt_and_temperature_reach_the_engine(sdk):
    async with sdk() as client:
        await client.audio.transcriptions.create(
            model="whisper-1", file=AUDIO, prompt="Glossary: voxgate.", temperature=0.4
        )
    assert FakeSttEngine.last_options.prompt == "Glossary: voxgate."
    assert FakeSttEngine.last_options.temperature == pytest.approx(0.4)


async def test_chunking_strategy_auto_and_server_vad(sdk):
    async with sdk() as client:
        await client.audio.transcriptions.create(model="whisper-1", file=AUDIO)
        assert FakeSttEngine.last_options.vad is None
        await client.audio.transcriptions.create(
            model="whisper-1", file=AUDIO, chunking_strategy="auto"
        )
        assert FakeSttEngine.last_options.vad == VadOptions()
        await client.audio.transcriptions.create(
            model="whisper-1",
            file=AUDIO,
            chunking_strategy={"type": "server_vad", "threshold": 0.3, "silence_duration_ms": 700},
        )
        assert FakeSttEngine.last_options.vad == VadOptions(
            threshold=0.3, silence_duration_ms=700, prefix_padding_ms=300
        )
        with pytest.raises(openai.BadRequestError) as info:
            await client.audio.transcriptions.create(
                model="whisper-1",
                file=AUDIO,
                chunking_strategy={"type": "server_vad", "threshold": 2},
            )
    assert info.value.body["param"] == "chunking_strategy"


async def test_forms_as_curl_sends_them(plugins):
    """Bare list fields, bracketed objects and JSON objects given as text all work."""
    async with app_client(FAKE_TOML, plugins) as http:
        response = await http.post(
            "/v1/audio/transcriptions",
            data={
                "model": "whisper-1",
                "response_format": "verbose_json",
                "timestamp_granularities": "word",
                "chunking_strategy": json.dumps({"type": "server_vad", "threshold": 0.7}),
            },
            files={"file": ("a.wav", AUDIO, "audio/wav")},
        )
        assert response.status_code == 200, response.text
        assert "words" in response.json()
        assert FakeSttEngine.last_options.vad.threshold == 0.7
        response = await http.post(
            "/v1/audio/transcriptions",
            data={
                "model": "whisper-1",
                "chunking_strategy[type]": "server_vad",
                "chunking_strategy[prefix_padding_ms]": "500",
            },
            files={"file": ("a.wav", AUDIO, "audio/wav")},
        )
    assert response.status_code == 200, response.text
    assert FakeSttEngine.last_options.vad.prefix_padding_ms == 500


async def test_extra_body_parameters_reach_the_engine_typed(sdk):
    async with sdk() as client:
        await client.audio.transcriptions.create(
            model="whisper-1",
            file=AUDIO,
            extra_body={"beam_size": 2, "hotwords": "voxgate", "vad_filter": True},
        )
    assert FakeSttEngine.last_options.extra == {
        "beam_size": 2,
        "hotwords": "voxgate",
        "vad_filter": True,
    }


async def test_h2ogpt_interval_chunks_shift_timestamps(plugins):
    audio = wav_bytes(tone(5.0, 16_000))
    async with app_client(FAKE_TOML, plugins) as http:
        response = await http.post(
            "/v1/audio/transcriptions",
            data={
                "model": "whisper-1",
                "response_format": "verbose_json",
                "chunk": "interval",
                "chunk_seconds": "2",
            },
            files={"file": ("a.wav", audio, "audio/wav")},
        )
    assert response.status_code == 200, response.text
    segments = response.json()["segments"]
    assert [s["id"] for s in segments] == [0, 1, 2, 3, 4]
    assert [(s["start"], s["end"]) for s in segments] == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]


async def test_h2ogpt_silence_chunks_use_vad_and_stream_works_for_json(plugins):
    async with app_client(FAKE_TOML, plugins) as http:
        response = await http.post(
            "/v1/audio/transcriptions",
            data={"model": "whisper-1", "stream": "true", "chunk": "silence"},
            files={"file": ("a.wav", AUDIO, "audio/wav")},
        )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line]
    assert events[-1]["type"] == "transcript.text.done"
    assert FakeSttEngine.last_options.vad == VadOptions()


async def test_raw_pcm_upload(sdk):
    pcm = tone(2.0, 24_000).to_pcm16()
    async with sdk() as client:
        result = await client.audio.transcriptions.create(
            model="whisper-1",
            file=pcm,
            response_format="verbose_json",
            extra_body={"file_format": "pcm", "sample_rate": 24000},
        )
    assert result.duration == pytest.approx(2.0, abs=0.01)
    assert FakeSttEngine.last_options.extra == {}


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"file": b""}, "file"),
        ({"file": b"this is not audio at all"}, "file"),
        ({"response_format": "xml"}, "response_format"),
        ({"response_format": "diarized_json"}, "response_format"),
        ({"timestamp_granularities": ["sentence"]}, "timestamp_granularities"),
        ({"temperature": 1.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"include": ["everything"]}, "include"),
    ],
)
async def test_bad_requests_are_400_with_param(sdk, kwargs, param):
    async with sdk() as client:
        with pytest.raises(openai.BadRequestError) as info:
            await client.audio.transcriptions.create(
                **{"model": "whisper-1", "file": AUDIO, **kwargs}
            )
    body = info.value.body
    assert body["type"] == "invalid_request_error"
    assert body["param"] == param
    assert body["message"]


async def test_bad_enum_lists_the_choices(sdk):
    async with sdk() as client:
        with pytest.raises(openai.BadRequestError) as info:
            await client.audio.transcriptions.create(
                model="whisper-1", file=AUDIO, response_format="xml"
            )
    message = info.value.body["message"]
    assert all(fmt in message for fmt in ("json", "text", "srt", "verbose_json", "vtt"))


async def test_unknown_model_is_404(sdk):
    async with sdk() as client:
        with pytest.raises(openai.NotFoundError) as info:
            await client.audio.transcriptions.create(model="whisper-9", file=AUDIO)
        assert info.value.body["code"] == "model_not_found"
        with pytest.raises(openai.NotFoundError):
            await client.audio.translations.create(model="tts-1", file=AUDIO)


async def test_missing_parts_and_json_bodies_are_400(plugins):
    async with app_client(FAKE_TOML, plugins) as http:
        no_file = await http.post("/v1/audio/transcriptions", data={"model": "whisper-1"})
        no_model = await http.post(
            "/v1/audio/transcriptions", files={"file": ("a.wav", AUDIO, "audio/wav")}
        )
        as_json = await http.post("/v1/audio/transcriptions", json={"model": "whisper-1"})
        twice = await http.post(
            "/v1/audio/transcriptions",
            data={"model": ["whisper-1", "whisper-1"]},
            files={"file": ("a.wav", AUDIO, "audio/wav")},
        )
    assert (no_file.status_code, no_file.json()["error"]["param"]) == (400, "file")
    assert (no_model.status_code, no_model.json()["error"]["param"]) == (400, "model")
    assert as_json.status_code == 400
    assert "multipart/form-data" in as_json.json()["error"]["message"]
    assert (twice.status_code, twice.json()["error"]["param"]) == (400, "model")


async def test_oversize_upload_is_413(plugins):
    toml = FAKE_TOML + "[server]\nmax_upload_bytes = 50000\n"
    async with openai_client(toml, plugins) as client:
        with pytest.raises(openai.APIStatusError) as info:
            await client.audio.transcriptions.create(model="whisper-1", file=AUDIO)
    assert info.value.status_code == 413
    assert info.value.body["message"].startswith("Maximum content size limit (50000) exceeded")


async def test_too_many_form_fields_is_400_saying_so(plugins):
    fields = {f"field{i}": "x" for i in range(1000)}
    async with app_client(FAKE_TOML, plugins) as client:
        response = await client.post(
            "/v1/audio/transcriptions",
            data={"model": "whisper-1", **fields},
            files={"file": ("a.wav", wav_bytes(tone(1.0)), "audio/wav")},
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert "Entity Too Large" not in error["message"]
    assert "1000" in error["message"]
    assert error["type"] == "invalid_request_error"
