"""/v1/audio/speech in-process with the fake tone engine: formats, rates, SSE, validation.

The fake engine says each word as 0.1 s of tone, so durations are exact; the real engines
(Kokoro, Piper) are checked by transcribing their speech back in tests/contract.
"""

from __future__ import annotations

import base64
import io
import json
import wave

import av
import numpy as np
import openai
import pytest

import voxgate_pyav
import voxgate_voices
from tests.conftest import PYAV_TOML
from voxgate.services.sentences import pieces, sentences
from voxgate.testing import app_client, openai_client
from voxgate.testing.fakes import FakeTtsEngine

TEXT = "One two three four. Five six seven eight nine ten."  # 10 words: 1.0 s of tone


@pytest.fixture
def speech_plugins(plugins):
    return [*plugins, voxgate_voices, voxgate_pyav]


def decode(data: bytes) -> tuple[np.ndarray, int, int]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        channels = stream.codec_context.channels
        frames = [f.to_ndarray() for f in container.decode(audio=0)]
        rate = stream.codec_context.sample_rate
    samples = np.concatenate([f.reshape(-1) if f.shape[0] == 1 else f[0] for f in frames])
    return samples, rate, channels


async def test_wav_is_24k_mono_with_one_header(speech_plugins):
    async with openai_client(PYAV_TOML, speech_plugins) as client:
        response = await client.audio.speech.create(
            model="tts-1", voice="tone", input=TEXT, response_format="wav"
        )
    data = response.content
    assert data[:4] == b"RIFF"
    assert data.count(b"RIFF") == 1
    assert data[20:22] == (1).to_bytes(2, "little"), "PCM"
    assert int.from_bytes(data[22:24], "little") == 1, "mono"
    assert int.from_bytes(data[24:28], "little") == 24_000
    assert len(data) - 44 == 2 * 24_000, "1.0 s of 16-bit samples"


async def test_pcm_is_24k_whatever_the_engine_rate(speech_plugins):
    toml = PYAV_TOML.replace('kind = "fake-tts"', 'kind = "fake-tts"\nsample_rate = 16000', 1)
    async with openai_client(toml, speech_plugins) as client:
        response = await client.audio.speech.create(
            model="tts-1", voice="tone", input=TEXT, response_format="pcm"
        )
    assert len(response.content) == pytest.approx(2 * 24_000, abs=4)


@pytest.mark.parametrize(
    ("fmt", "content_type", "rate"),
    [
        ("mp3", "audio/mpeg", 24_000),
        ("opus", "audio/opus", 48_000),
        ("aac", "audio/aac", 24_000),
        ("flac", "audio/flac", 24_000),
        ("wav", "audio/wav", 24_000),
    ],
)
async def test_every_format_decodes_to_its_rate_and_duration(
    speech_plugins, fmt, content_type, rate
):
    async with app_client(PYAV_TOML, speech_plugins) as http:
        response = await http.post(
            "/v1/audio/speech",
            json={"model": "tts-1", "voice": "tone", "input": TEXT, "response_format": fmt},
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    samples, decoded_rate, channels = decode(response.content)
    assert (decoded_rate, channels) == (rate, 1)
    assert len(samples) / decoded_rate == pytest.approx(1.0, abs=0.12)


async def test_sample_rate_extensions(speech_plugins):
    async with app_client(PYAV_TOML, speech_plugins) as http:
        a = await http.post(
            "/v1/audio/speech",
            json={
                "model": "tts-1",
                "voice": "tone",
                "input": TEXT,
                "response_format": "wav",
                "sample_rate": 16000,
            },
        )
        b = await http.post(
            "/v1/audio/speech",
            json={
                "model": "tts-1", "voice": "tone", "input": TEXT, "response_format": "pcm",
                "model_extensions": {"sr": 8000},
            },
        )  # fmt: skip
    assert int.from_bytes(a.content[24:28], "little") == 16_000
    assert len(b.content) == pytest.approx(2 * 8000, abs=4)


async def test_h2ogpt_unstripped_wav_chunks_are_standalone_files(speech_plugins):
    async with app_client(PYAV_TOML, speech_plugins) as http:
        response = await http.post(
            "/v1/audio/speech",
            json={
                "model": "tts-1",
                "voice": "tone",
                "input": TEXT,
                "response_format": "wav",
                "stream": True,
                "stream_strip": False,
            },
        )
    data = response.content
    assert data.count(b"RIFF") == len(pieces(TEXT)) == 2
    first_size = int.from_bytes(data[4:8], "little") + 8
    with wave.open(io.BytesIO(data[:first_size])) as first:
        assert first.getnframes() == 4 * 2400


async def test_sse_deltas_join_into_a_valid_file_and_done_has_usage(speech_plugins):
    async with openai_client(PYAV_TOML, speech_plugins) as client:
        async with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="tone", input=TEXT, response_format="wav", stream_format="sse"
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = [line async for line in response.iter_lines()]
    events = [
        json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")
    ]
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1)
    done = events[-1]
    assert done["type"] == "speech.audio.done"
    assert set(done["usage"]) == {"input_tokens", "output_tokens", "total_tokens"}
    assert done["usage"]["output_tokens"] == 50
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert audio[:4] == b"RIFF"
    assert len(audio) - 44 == 2 * 24_000


async def test_speed_is_passed_natively(speech_plugins):
    async with openai_client(PYAV_TOML, speech_plugins) as client:
        fast = await client.audio.speech.create(
            model="tts-1", voice="tone", input=TEXT, response_format="pcm", speed=2.0
        )
    assert len(fast.content) == pytest.approx(24_000, abs=4)


async def test_pieces_are_synthesized_in_order_with_soft_joins(speech_plugins):
    async with openai_client(PYAV_TOML, speech_plugins) as client:
        response = await client.audio.speech.create(
            model="tts-1", voice="tone", input=TEXT, response_format="pcm"
        )
    samples = np.frombuffer(response.content, "<i2").astype(np.float32) / 32768
    join = 4 * 2400  # the first piece is four words
    assert abs(samples[join - 1]) < 0.01, "the piece fades out"
    assert abs(samples[join]) < 0.01, "the next fades in"
    assert FakeTtsEngine.steps == 10


async def test_the_first_audio_is_the_first_clause_alone(speech_plugins):
    text = "The library opens early in the morning. Please bring your own card."
    async with openai_client(PYAV_TOML, speech_plugins) as client:
        async with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="tone", input=text, response_format="pcm", stream_format="sse"
        ) as response:
            lines = [line async for line in response.iter_lines()]
    deltas = [
        base64.b64decode(json.loads(line.removeprefix("data: "))["audio"])
        for line in lines
        if line.startswith("data: ") and "speech.audio.delta" in line
    ]
    assert FakeTtsEngine.said == [
        "The library opens early",
        "in the morning. Please bring your own card.",
    ]
    assert len(deltas[0]) == 2 * 2400 * 4, "the first audio is the four words of the clause"
    assert sum(map(len, deltas)) == 2 * 2400 * len(text.split())


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "tts-9"}, 404, "model"),
        ({"input": ""}, 400, "input"),
        ({"input": "x" * 4097}, 400, "input"),
        ({"speed": 4.5}, 400, "speed"),
        ({"speed": 0.1}, 400, "speed"),
        ({"response_format": "ogg"}, 400, "response_format"),
        ({"stream_format": "ws"}, 400, "stream_format"),
        ({"voice": "nobody"}, 400, "voice"),
        ({"voice": {"id": "nobody"}}, 400, "voice"),
    ],
)
async def test_every_error_comes_before_the_first_byte(speech_plugins, body, status, param):
    request = {"model": "tts-1", "voice": "tone", "input": TEXT, **body}
    async with app_client(PYAV_TOML, speech_plugins) as http:
        response = await http.post("/v1/audio/speech", json=request)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert error["message"]


async def test_sdk_errors(speech_plugins):
    async with openai_client(PYAV_TOML, speech_plugins) as client:
        with pytest.raises(openai.NotFoundError):
            await client.audio.speech.create(model="tts-9", voice="tone", input="hi")
        with pytest.raises(openai.BadRequestError) as info:
            await client.audio.speech.create(model="tts-1", voice="nobody", input="hi")
    assert info.value.body["param"] == "voice"


@pytest.mark.parametrize("text", ["....!!!???", "-", "\x00", " \x07\x1b ", "\u2026 \u2014 *"])
async def test_input_with_nothing_speakable_is_400_for_every_engine(speech_plugins, text):
    """The rule is the core's: no letter or digit is a 400, whatever the engine would do."""
    async with openai_client(PYAV_TOML, speech_plugins) as client:
        with pytest.raises(openai.BadRequestError) as info:
            await client.audio.speech.create(model="tts-1", voice="tone", input=text)
    assert info.value.body["param"] == "input"
    assert "nothing speakable" in info.value.message


async def test_control_characters_are_spaces_in_any_sentence(speech_plugins):
    """A NUL is a word break, in the first sentence or a later one: every word is said."""
    async with openai_client(PYAV_TOML, speech_plugins) as client:
        response = await client.audio.speech.create(
            model="tts-1",
            voice="tone",
            input="One\x00two. Three\x00four\x1ffive.",
            response_format="pcm",
        )
    assert len(response.content) == 2 * 24_000 * 5 // 10, "five words of 0.1 s"


async def test_custom_voice_object(speech_plugins):
    async with openai_client(PYAV_TOML, speech_plugins) as client:
        response = await client.audio.speech.create(
            model="tts-1", voice={"id": "low"}, input="one two", response_format="pcm"
        )
    assert len(response.content) == 2 * 4800


def test_sentences_keep_abbreviations_numbers_and_initials():
    text = "Dr. Smith paid $3.50 at 3 p.m. on Jan. 5. J. R. R. Tolkien wrote it! Really?\n\nYes"
    assert sentences(text) == [
        "Dr. Smith paid $3.50 at 3 p.m. on Jan. 5.",
        "J. R. R. Tolkien wrote it!",
        "Really?",
        "Yes",
    ]


def test_pieces_first_sentence_alone_then_groups_and_bounded():
    text = " ".join(f"Sentence number {n} is here." for n in range(60))
    parts = pieces(text)
    assert parts[0] == "Sentence number 0 is here."
    assert all(len(p) <= 400 for p in parts)
    assert " ".join(parts) == text
    long_sentence = "word " * 200
    assert all(len(p) <= 200 for p in pieces(long_sentence)[:1])


async def test_engines_without_native_speed_get_a_pitch_keeping_tempo(speech_plugins, monkeypatch):
    from voxgate.engines.base import TtsCapabilities

    monkeypatch.setattr(FakeTtsEngine, "capabilities", TtsCapabilities(native_speed=False))
    async with openai_client(PYAV_TOML, speech_plugins) as client:
        fast = await client.audio.speech.create(
            model="tts-1", voice="tone", input=TEXT, response_format="pcm", speed=2.0
        )
        slow = await client.audio.speech.create(
            model="tts-1", voice="tone", input=TEXT, response_format="pcm", speed=0.5
        )
    for audio, seconds in ((fast.content, 0.5), (slow.content, 2.0)):
        samples = np.frombuffer(audio, "<i2").astype(np.float32)
        assert len(samples) / 24_000 == pytest.approx(seconds, rel=0.1)
        spectrum = np.abs(np.fft.rfft(samples))
        peak = np.argmax(spectrum) * 24_000 / len(samples)
        assert peak == pytest.approx(440, abs=15), "the pitch stays"


async def test_speeds_beyond_the_engine_range_use_the_tempo_filter(speech_plugins, monkeypatch):
    from voxgate.engines.base import TtsCapabilities

    monkeypatch.setattr(FakeTtsEngine, "capabilities", TtsCapabilities(max_speed=2.0))
    async with openai_client(PYAV_TOML, speech_plugins) as client:
        native = await client.audio.speech.create(
            model="tts-1", voice="tone", input=TEXT, response_format="pcm", speed=2.0
        )
        filtered = await client.audio.speech.create(
            model="tts-1", voice="tone", input=TEXT, response_format="pcm", speed=4.0
        )
    assert len(native.content) / 2 / 24_000 == pytest.approx(0.5, rel=0.05)
    assert len(filtered.content) / 2 / 24_000 == pytest.approx(0.25, rel=0.1)


async def test_a_4096_character_input_streams_in_bounded_pieces(speech_plugins):
    words = " ".join(f"Word{n} is here." for n in range(400))[:4096]
    async with openai_client(PYAV_TOML, speech_plugins) as client:
        response = await client.audio.speech.create(
            model="tts-1", voice="tone", input=words, response_format="pcm"
        )
    assert len(response.content) == 2 * 2400 * len(words.split())
    assert all(len(piece) <= 400 for piece in pieces(words))
