"""Coqui speech through the official SDK against ``voxgate serve``, on tiny random VITS models.

The models are built by the engine tests' ``build_vits`` (real checkpoints and configs, random
weights), named in the TOML by ``model_path`` + ``config_path``, and reached through the voice
mapping with OpenAI's voice names. Their audio is noise: compared by length and sample, never
transcribed.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator

import av
import httpx
import numpy as np
import openai
import pytest

from tests.contract.conftest import Server, start_server, stop_server, wait_ready
from tests.engines.test_coqui import SPEAKERS, build_vits

SENTENCE = "The library opens early in the morning. Please bring your own card."
RATE = 24_000  # what the service encodes every format at
FORMATS = [("mp3", 24_000), ("opus", 48_000), ("aac", 24_000), ("flac", 24_000), ("wav", 24_000)]


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, subprocess_env: dict[str, str]
) -> Iterator[Server]:
    """One server with a one-speaker and a two-speaker model, both loaded before the tests."""
    root = tmp_path_factory.mktemp("coqui-serve")
    single = build_vits(root / "single")
    multi = build_vits(root / "multi", SPEAKERS)
    toml = f"""
[tts.coqui]
kind = "coqui"
model_path = "{single / "model.pth"}"
config_path = "{single / "config.json"}"
device = "cpu"
preload = true

[tts.vctk]
kind = "coqui"
model_path = "{multi / "model.pth"}"
config_path = "{multi / "config.json"}"
device = "cpu"
preload = true

[models]
"tts-coqui" = {{ tts = "coqui" }}
"tts-vctk" = {{ tts = "vctk" }}

[voices.coqui]
alloy = "coqui"
nova = "coqui"

[voices.vctk]
alloy = "p225"
echo = "p226"
"""
    started = start_server(root, subprocess_env, toml, timeout=120)
    try:
        wait_ready(started, timeout=180)
        yield started
    finally:
        stop_server(started)


@pytest.fixture
def client(server: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{server.base_url}/v1", api_key="dummy", max_retries=0, timeout=120
    ) as sdk:
        yield sdk


def pcm(client: openai.OpenAI, model: str, voice: str, text: str = SENTENCE) -> bytes:
    return client.audio.speech.create(
        model=model, voice=voice, input=text, response_format="pcm"
    ).content


def decode(data: bytes) -> tuple[np.ndarray, int, int]:
    """Samples (first channel), rate and channel count, as PyAV reads them."""
    with av.open(io.BytesIO(data)) as container:
        context = container.streams.audio[0].codec_context
        rate, channels = context.sample_rate, context.channels
        frames = [frame.to_ndarray() for frame in container.decode(audio=0)]
    planar = [f[0] if f.shape[0] == channels else f.reshape(-1)[::channels] for f in frames]
    return np.concatenate(planar).astype(np.float32), rate, channels


def seconds(raw: bytes) -> float:
    return len(raw) / 2 / RATE


@pytest.fixture(scope="module")
def reference(server: Server) -> bytes:
    """The sentence as raw PCM: what every format must decode to, in length."""
    with openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="dummy", max_retries=0) as sdk:
        return pcm(sdk, "tts-coqui", "alloy")


def test_pcm_is_speech_length_and_not_silent(reference: bytes):
    samples = np.frombuffer(reference, dtype="<i2")
    assert 1.0 < seconds(reference) < 20.0
    assert np.abs(samples).max() > 300


def test_the_same_text_gives_the_same_audio(client: openai.OpenAI, reference: bytes):
    """inference_noise_scale = 0: what the format tests rely on."""
    assert pcm(client, "tts-coqui", "nova") == reference


@pytest.mark.parametrize(("fmt", "rate"), FORMATS)
def test_every_format_decodes_to_the_pcm_duration(
    client: openai.OpenAI, reference: bytes, fmt: str, rate: int
):
    audio = client.audio.speech.create(
        model="tts-coqui", voice="alloy", input=SENTENCE, response_format=fmt
    )
    samples, decoded_rate, channels = decode(audio.content)
    assert (decoded_rate, channels) == (rate, 1)
    assert len(samples) / decoded_rate == pytest.approx(seconds(reference), abs=0.1)
    assert np.abs(samples).max() > 0.01


def test_raw_streaming_sends_the_same_pcm(client: openai.OpenAI, reference: bytes):
    with client.audio.speech.with_streaming_response.create(
        model="tts-coqui", voice="alloy", input=SENTENCE, response_format="pcm"
    ) as response:
        assert response.headers["content-type"].startswith("audio/pcm")
        streamed = b"".join(response.iter_bytes())
    assert streamed == reference


@pytest.mark.parametrize("fmt", ["pcm", "mp3"])
def test_sse_streaming_as_the_sdk_reads_it(client: openai.OpenAI, reference: bytes, fmt: str):
    with client.audio.speech.with_streaming_response.create(
        model="tts-coqui", voice="alloy", input=SENTENCE, response_format=fmt, stream_format="sse"
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    events = [json.loads(line.removeprefix("data: ")) for line in lines]
    assert events[-1]["type"] == "speech.audio.done"
    assert events[-1]["usage"]["output_tokens"] > 0
    deltas = events[:-1]
    assert len(deltas) >= 2, "the two sentences leave as two pieces"
    assert all(event["type"] == "speech.audio.delta" for event in deltas)
    audio = b"".join(base64.b64decode(event["audio"]) for event in deltas)
    if fmt == "pcm":
        assert audio == reference
    else:
        samples, rate, _ = decode(audio)
        assert len(samples) / rate == pytest.approx(seconds(reference), abs=0.1)


def test_openai_voices_map_to_speakers(client: openai.OpenAI):
    alloy = pcm(client, "tts-vctk", "alloy")
    echo = pcm(client, "tts-vctk", "echo")
    assert alloy == pcm(client, "tts-vctk", "p225"), "alloy is mapped to p225"
    assert echo == pcm(client, "tts-vctk", "p226")
    assert alloy != echo, "two speakers, two voices"
    assert seconds(alloy) > 1.0
    assert seconds(echo) > 1.0


def test_the_voice_list_shows_the_mapping_and_the_speakers(server: Server):
    answer = httpx.get(f"{server.base_url}/v1/audio/voices", params={"model": "tts-vctk"})
    assert answer.status_code == 200
    voices = {voice["id"]: voice["engine_voice"] for voice in answer.json()["voices"]}
    assert voices == {"alloy": "p225", "echo": "p226", "p225": "p225", "p226": "p226"}


@pytest.mark.parametrize(("model", "voice"), [("tts-coqui", "echo"), ("tts-vctk", "nova")])
def test_an_unknown_voice_is_a_400_naming_voice(client: openai.OpenAI, model: str, voice: str):
    with pytest.raises(openai.BadRequestError) as caught:
        pcm(client, model, voice)
    assert caught.value.status_code == 400
    assert caught.value.param == "voice"
    assert voice in caught.value.message


def test_speed_goes_through_the_tempo_filter(client: openai.OpenAI, reference: bytes):
    fast = client.audio.speech.create(
        model="tts-coqui", voice="alloy", input=SENTENCE, response_format="pcm", speed=2.0
    ).content
    assert seconds(fast) == pytest.approx(seconds(reference) / 2, rel=0.15)


def test_the_server_log_names_the_loaded_models(server: Server):
    log = server.log
    assert "coqui model loaded" in log
    assert "Traceback" not in log
