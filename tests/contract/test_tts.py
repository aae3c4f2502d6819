"""Speech through the official SDK against ``voxgate serve`` on the embedded default config.

Piper answers ``tts-1``, Kokoro ``tts-1-hd``; their speech is transcribed back by the same
server's Whisper, so "it says the words" is measured, not assumed.
"""

from __future__ import annotations

import base64
import io
import time

import av
import httpx
import numpy as np
import openai
import pytest
from servers import served
from wer import wer

from tests.conftest import PYAV_TOML
from voxgate.testing import build_test_app
from voxgate.testing.fakes import FakeTtsEngine

SENTENCE = "The library opens early in the morning. Please bring your own card."
VOICES = [
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "onyx",
    "nova",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
]


def decode(data: bytes) -> tuple[np.ndarray, int, int]:
    """Samples of the first channel, the rate and the channel count, as PyAV reads them."""
    with av.open(io.BytesIO(data)) as container:
        context = container.streams.audio[0].codec_context
        rate, channels = context.sample_rate, context.channels
        frames = [frame.to_ndarray() for frame in container.decode(audio=0)]
    planar = [
        f[0] if f.shape[0] == channels and channels > 1 else f.reshape(-1)[::channels]
        for f in frames
    ]
    return np.concatenate(planar).astype(np.float32), rate, channels


def transcribe(client: openai.OpenAI, audio: bytes) -> str:
    return client.audio.transcriptions.create(
        model="whisper-tiny.en", file=audio, response_format="text"
    )


@pytest.mark.parametrize("model", ["tts-1", "tts-1-hd"])
def test_speech_says_the_words(client, model):
    audio = client.audio.speech.create(
        model=model, voice="alloy", input=SENTENCE, response_format="wav"
    )
    assert wer(SENTENCE, transcribe(client, audio.content)) <= 0.1


@pytest.mark.parametrize(
    ("fmt", "rate"),
    [("mp3", 24_000), ("opus", 48_000), ("aac", 24_000), ("flac", 24_000), ("wav", 24_000)],
)
def test_every_format_has_its_rate_and_the_pcm_duration(client, fmt, rate):
    """Kokoro is deterministic (Piper's noise varies durations run to run): same audio twice."""
    words = "Please bring your own card."
    pcm = client.audio.speech.create(
        model="tts-1-hd", voice="alloy", input=words, response_format="pcm"
    )
    seconds = len(pcm.content) / 2 / 24_000
    encoded = client.audio.speech.create(
        model="tts-1-hd", voice="alloy", input=words, response_format=fmt
    )
    samples, decoded_rate, channels = decode(encoded.content)
    assert (decoded_rate, channels) == (rate, 1)
    assert len(samples) / decoded_rate == pytest.approx(seconds, abs=0.1)


def test_speed_changes_duration_proportionally(client):
    def seconds(speed: float) -> float:
        pcm = client.audio.speech.create(
            model="tts-1", voice="alloy", input=SENTENCE, response_format="pcm", speed=speed
        )
        return len(pcm.content) / 2 / 24_000

    normal = seconds(1.0)
    assert seconds(0.5) / normal == pytest.approx(2.0, rel=0.15)
    assert seconds(2.0) / normal == pytest.approx(0.5, rel=0.15)


def test_sse_as_the_sdk_reads_it(client):
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="nova", input=SENTENCE, response_format="mp3", stream_format="sse"
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    import json

    events = [json.loads(line[6:]) for line in lines]
    assert events[-1]["type"] == "speech.audio.done"
    assert events[-1]["usage"]["total_tokens"] == (
        events[-1]["usage"]["input_tokens"] + events[-1]["usage"]["output_tokens"]
    )
    assert all(e["type"] == "speech.audio.delta" for e in events[:-1])
    mp3 = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert wer(SENTENCE, transcribe(client, mp3)) <= 0.1


def test_every_openai_voice_speaks_and_kokoro_voices_differ(client):
    seen: dict[str, bytes] = {}
    for voice in VOICES:
        for model in ("tts-1", "tts-1-hd"):
            audio = client.audio.speech.create(
                model=model, voice=voice, input="Good morning.", response_format="pcm"
            ).content
            samples = np.frombuffer(audio, "<i2").astype(np.float32) / 32768
            assert len(samples) > 0.3 * 24_000
            assert np.sqrt(np.mean(samples**2)) > 0.01, f"{model} {voice} is not silent"
            if model == "tts-1-hd":
                seen[voice] = audio
    assert len(set(seen.values())) == len(VOICES), "13 distinct Kokoro voices"


def test_blends_and_engine_ids_pass_through(client):
    for model, voice in [
        ("tts-1-hd", "jf_alpha(2)+jm_kumo(1)"),
        ("tts-1-hd", "jm_kumo"),
        ("tts-1", "en_US-joe-medium"),
    ]:
        audio = client.audio.speech.create(
            model=model, voice=voice, input=SENTENCE, response_format="wav"
        )
        assert wer(SENTENCE, transcribe(client, audio.content)) <= 0.15


def test_live_remapping_takes_effect_on_the_next_request(default_server, client):
    def pcm(voice: str) -> bytes:
        return client.audio.speech.create(
            model="tts-1-hd", voice=voice, input="Good evening.", response_format="pcm"
        ).content

    kumo, before = pcm("jm_kumo"), pcm("shimmer")
    assert before != kumo
    url = f"{default_server.base_url}/v1/audio/voices/mapping"
    changed = httpx.put(
        url, json={"instance": "kokoro", "voice": "shimmer", "engine_voice": "jm_kumo"}
    )
    assert changed.status_code == 200, changed.text
    try:
        assert pcm("shimmer") == kumo
    finally:
        httpx.put(
            url, json={"instance": "kokoro", "voice": "shimmer", "engine_voice": "jf_tebukuro"}
        )
    assert pcm("shimmer") == before


def test_voices_list_for_open_webui(default_server):
    listed = httpx.get(
        f"{default_server.base_url}/v1/audio/voices", params={"model": "tts-1-hd"}
    ).json()
    ids = [v["id"] for v in listed["voices"]]
    assert set(VOICES) <= set(ids)
    assert "jf_alpha" in ids


@pytest.mark.parametrize(
    ("kwargs", "error", "param"),
    [
        ({"model": "tts-9"}, openai.NotFoundError, "model"),
        ({"voice": "nobody"}, openai.BadRequestError, "voice"),
        ({"voice": "jf_alpha(2)+nobody(1)", "model": "tts-1-hd"}, openai.BadRequestError, "voice"),
        ({"speed": 9.0}, openai.BadRequestError, "speed"),
        ({"input": "x" * 4097}, openai.BadRequestError, "input"),
        ({"response_format": "ogg"}, openai.BadRequestError, "response_format"),
    ],
)
def test_errors_before_the_first_byte(client, kwargs, error, param):
    with pytest.raises(error) as info:
        client.audio.speech.create(
            **{"model": "tts-1", "voice": "alloy", "input": SENTENCE, **kwargs}
        )
    assert info.value.body["param"] == param


# -- streaming order, with the fake engine in a server thread of this process ---------------------


@pytest.fixture
def threaded_fake_server(plugins):
    import voxgate_pyav

    toml = PYAV_TOML.replace('kind = "fake-tts"', 'kind = "fake-tts"\ndelay = 0.02', 1)
    with served(build_test_app(toml, [*plugins, voxgate_pyav])) as address:
        yield f"http://{address}"


def test_first_audio_leaves_before_the_last_sentence_starts(threaded_fake_server, monkeypatch):
    started: list[str] = []
    original = FakeTtsEngine.synthesize

    def recording(self, text, voice, options):
        started.append(text)
        return original(self, text, voice, options)

    monkeypatch.setattr(FakeTtsEngine, "synthesize", recording)
    text = " ".join(f"Sentence {n} has five words." for n in range(40))  # five pieces
    with (
        httpx.Client(base_url=threaded_fake_server, timeout=30) as http,
        http.stream(
            "POST", "/v1/audio/speech",
            json={"model": "tts-1", "voice": "tone", "input": text, "response_format": "mp3"},
        ) as response,
    ):  # fmt: skip
        chunks = response.iter_bytes()
        first = next(chunks)
        assert first
        assert started, "the first piece was synthesized"
        assert not started[-1].endswith("Sentence 39 has five words."), started
        rest = b"".join(chunks)
    assert started[-1].endswith("Sentence 39 has five words.")
    samples, _, _ = decode(first + rest)
    assert len(samples) / 24_000 == pytest.approx(200 * 0.1, abs=0.2)


def test_leaving_mid_speech_stops_the_engine(threaded_fake_server):
    text = " ".join(f"Sentence {n} has five words." for n in range(40))  # 200 words, 4 s of work
    with httpx.Client(base_url=threaded_fake_server, timeout=30) as http:
        with http.stream(
            "POST", "/v1/audio/speech",
            json={"model": "tts-1", "voice": "tone", "input": text, "response_format": "mp3"},
        ) as response:  # fmt: skip
            chunks = response.iter_bytes()
            assert next(chunks)
        time.sleep(1.6)  # the piece in flight (at most 80 words at 0.02 s) may finish
        steps = FakeTtsEngine.steps
        time.sleep(0.4)
        assert FakeTtsEngine.steps == steps, "no more words synthesized after the client left"
        again = http.post(
            "/v1/audio/speech",
            json={"model": "tts-1", "voice": "tone", "input": "one two", "response_format": "pcm"},
        )
    assert again.status_code == 200
    assert steps < 200
