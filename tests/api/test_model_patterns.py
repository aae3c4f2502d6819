"""``[models]`` patterns through every route that takes a model, with the official SDK.

The app serves the default config's own ``[models]`` table, its instances swapped for the fakes
(whisper-base and whisper-tiny.en -> ``fake-stt``, piper and kokoro -> ``tone``), so these tests
follow the shipped table: today's OpenAI ids by their exact keys, tomorrow's by its patterns.
"""

from __future__ import annotations

import base64
import json
import re

import openai
import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

import voxgate_openai_upstream
from voxgate.config import default_toml
from voxgate.engines.audio import PcmAudio
from voxgate.testing import build_test_app, openai_client
from voxgate.testing.fakes import tone, wav_bytes

AUDIO = wav_bytes(tone(2.0, 16_000))
HEARD = "Hello from the fake engine. Hello from the fake engine."
FUTURE_STT = "gpt-5-transcribe-2027-01-01"
FAKES = {
    "whisper-base": "fake-stt",
    "whisper-tiny.en": "fake-stt",
    "piper": "tone",
    "kokoro": "tone",
}


def default_models() -> str:
    """The default ``[models]`` table, routed to the fake instances."""
    text = default_toml()
    table = text[text.index("\n[models]\n") :]
    return re.sub(r'= "([^"]+)"', lambda m: f'= "{FAKES.get(m[1], m[1])}"', table)


def app_toml(upstream_url: str = "http://127.0.0.1:1/v1") -> str:
    """Fakes, a decoy chat proxy first and ``upstream`` second, and the default ``[models]``."""
    return f"""
[transcoder]
kind = "wav"

[stt.fake-stt]
kind = "fake-stt"

[tts.tone]
kind = "fake-tts"

[diarize.speakers]
kind = "fake-diarize"

[chat.decoy]
kind = "openai"
base_url = "http://127.0.0.1:1/v1"
retries = 0

[chat.upstream]
kind = "openai"
base_url = "{upstream_url}"
retries = 0
{default_models()}"""


@pytest.fixture
def api_plugins(plugins):
    return [*plugins, voxgate_openai_upstream]


@pytest.fixture
def sdk(api_plugins):
    return lambda: openai_client(app_toml(), api_plugins)


def test_the_table_under_test_is_the_default_one():
    assert '"gpt-*transcribe*" = "fake-stt"' in default_models()
    assert '"gpt-realtime*" = { chat = "upstream" }' in default_models()
    assert '= "whisper-base"' not in default_models()


@pytest.mark.parametrize("model", ["gpt-transcribe", "gpt-realtime-whisper", FUTURE_STT])
async def test_transcriptions_by_exact_id_and_by_pattern(sdk, model):
    async with sdk() as client:
        result = await client.audio.transcriptions.create(model=model, file=AUDIO)
    assert result.text == HEARD


async def test_translations_take_a_pattern_id_too(sdk):
    async with sdk() as client:
        result = await client.audio.translations.create(model=FUTURE_STT, file=AUDIO)
    assert result.text == HEARD


@pytest.mark.parametrize("model", ["gpt-4o-mini-tts-2025-12-15", "gpt-5-mini-tts-2027-01-01"])
async def test_speech_by_exact_id_and_by_pattern(sdk, model):
    async with sdk() as client:
        response = await client.audio.speech.create(
            model=model, voice="tone", input="one two three", response_format="wav"
        )
    assert response.content[:4] == b"RIFF"
    assert len(response.content) > 44, "a header and audio"


async def test_an_id_no_pattern_matches_is_404_model_not_found(sdk):
    async with sdk() as client:
        with pytest.raises(openai.NotFoundError) as info:
            await client.audio.transcriptions.create(model="gpt-realtime-2.1-mini", file=AUDIO)
    assert info.value.body == {
        "message": "The model `gpt-realtime-2.1-mini` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


async def test_models_lists_the_concrete_ids_and_never_a_pattern(sdk):
    async with sdk() as client:
        ids = [model.id for model in (await client.models.list()).data]
    for model in (
        "gpt-transcribe",
        "gpt-4o-mini-transcribe-2025-12-15",
        "gpt-live-transcribe",
        "gpt-realtime-whisper",
        "gpt-4o-mini-tts-2025-12-15",
        "gpt-realtime-2.1-mini",
        "gpt-4o-mini-realtime-preview",
    ):
        assert model in ids
    assert not [model for model in ids if "*" in model or "?" in model]
    assert len(ids) == len(set(ids))


async def test_retrieving_an_id_a_pattern_serves_answers_with_that_id(sdk):
    async with sdk() as client:
        model = await client.models.retrieve(FUTURE_STT)
        assert (model.id, model.object, model.owned_by) == (FUTURE_STT, "model", "voxgate")
        with pytest.raises(openai.NotFoundError) as info:
            await client.models.retrieve("gpt-5")
    assert info.value.body["code"] == "model_not_found"


def test_live_transcription_takes_a_pattern_id(api_plugins):
    app = build_test_app(app_toml(), api_plugins)
    path = "/v1/audio/transcriptions-realtime"
    with TestClient(app) as http:
        with http.websocket_connect(f"{path}?model={FUTURE_STT}") as socket:
            socket.send_text(json.dumps({"sample_rate": 16_000}))
            socket.send_text(json.dumps({"done": True}))
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_json(timeout=10)
            assert closed.value.code == 1000, "nothing to transcribe: a normal close"
        with http.websocket_connect(f"{path}?model=gpt-5") as socket:
            socket.send_text(json.dumps({"sample_rate": 16_000}))
            assert socket.receive_json(timeout=10)["error"]["code"] == "model_not_found"


def received_until(ws, last: str) -> list[dict]:
    seen: list[dict] = []
    while not seen or seen[-1]["type"] != last:
        seen.append(ws.receive_json(timeout=20))
    return seen


@pytest.mark.parametrize("model", ["gpt-realtime-whisper", "gpt-realtime-whisper-2", FUTURE_STT])
def test_a_realtime_transcription_session_transcribes_with_it(api_plugins, model):
    app = build_test_app(app_toml(), api_plugins)
    two_seconds = PcmAudio.silence(2.0, 24_000).to_pcm16()
    session = {
        "type": "transcription",
        "audio": {"input": {"transcription": {"model": model}, "turn_detection": None}},
    }
    with TestClient(app) as http, http.websocket_connect("/v1/realtime?intent=transcription") as ws:
        assert ws.receive_json()["type"] == "session.created"
        ws.send_json({"type": "session.update", "session": session})
        updated = ws.receive_json()
        assert updated["type"] == "session.updated", updated
        assert updated["session"]["audio"]["input"]["transcription"]["model"] == model
        ws.send_json({"type": "input_audio_buffer.append", "audio": _b64(two_seconds)})
        ws.send_json({"type": "input_audio_buffer.commit"})
        events = received_until(ws, "conversation.item.done")
    (completed,) = [
        e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"
    ]
    assert completed["transcript"] == HEARD


def test_a_conversation_session_reaches_the_proxy_its_pattern_names(api_plugins, fake_upstream):
    """``gpt-realtime-2.1-mini`` goes to ``upstream``; without a route it would reach ``decoy``."""
    app = build_test_app(app_toml(fake_upstream.url), api_plugins)
    session = {
        "type": "realtime",
        "output_modalities": ["text"],
        "audio": {"input": {"turn_detection": None}},
    }
    message = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
    with TestClient(app) as http:
        for model in ("gpt-realtime-2.1-mini", "gpt-realtime-3-2027-01-01"):
            with http.websocket_connect(f"/v1/realtime?model={model}") as ws:
                created = ws.receive_json()
                assert created["type"] == "session.created"
                assert created["session"]["model"] == model, "the session echoes the id asked for"
                ws.send_json({"type": "session.update", "session": session})
                assert ws.receive_json()["session"]["model"] == model
                ws.send_json({"type": "conversation.item.create", "item": message})
                ws.send_json({"type": "response.create"})
                events = received_until(ws, "response.done")
            assert events[-1]["response"]["status"] == "completed", events[-1]
            assert fake_upstream.last["model"] == model, "the id the client sent, unchanged"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
