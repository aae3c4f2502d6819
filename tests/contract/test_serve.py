"""The official ``openai`` SDK against a real ``voxgate serve`` process on loopback."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import openai
import pytest
import websockets

from voxgate.testing.fakes import tone, wav_bytes

CONFIG = """
[stt.fake-stt]
kind = "fake-stt"

[tts.tone]
kind = "fake-tts"
delay = 0.05
max_queue = 0

[models]
"whisper-1" = "fake-stt"
"Systran/faster-whisper-tiny.en" = { stt = "fake-stt" }
"tts-1" = { tts = "tone" }
"""
KEY = "sk-contract-secret-key"


def sdk(server, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0)


def test_models_and_errors_through_the_sdk(serve):
    server = serve(CONFIG, env={"VOXGATE_API_KEYS": KEY})
    with sdk(server) as client, sdk(server, "sk-wrong") as wrong:
        check_models_and_errors(client, wrong)
    assert KEY not in server.log, "keys never reach the log"


def check_models_and_errors(client: openai.OpenAI, wrong: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list().data]
    assert ids == ["fake-stt", "tone", "whisper-1", "Systran/faster-whisper-tiny.en", "tts-1"]
    assert client.models.retrieve("Systran/faster-whisper-tiny.en").id == (
        "Systran/faster-whisper-tiny.en"
    )
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("nope/model")
    assert missing.value.code == "model_not_found"
    assert missing.value.request_id, "x-request-id reaches the SDK"
    with pytest.raises(openai.AuthenticationError) as denied:
        wrong.models.list()
    assert denied.value.code == "invalid_api_key"
    with pytest.raises(openai.NotFoundError):
        client.get("/no/such/route", cast_to=dict)


def test_upload_over_25_mib_is_413_that_the_sdk_sees(serve):
    server = serve(CONFIG)
    big = b"\0" * (26_214_400 + 1024)
    with sdk(server) as client, pytest.raises(openai.APIStatusError) as info:
        client.post(
            "/test/transcribe",
            body={"model": "whisper-1"},
            files=[("file", ("big.wav", big, "audio/wav"))],
            options={"headers": {"Content-Type": "multipart/form-data"}},
            cast_to=dict,
        )
    assert info.value.status_code == 413
    assert info.value.body["message"].startswith("Maximum content size limit (26214400) exceeded")
    with sdk(server) as client:
        small = client.post(
            "/test/transcribe",
            body={"model": "whisper-1"},
            files=[("file", ("upload", wav_bytes(tone(1.0)), "application/octet-stream"))],
            options={"headers": {"Content-Type": "multipart/form-data"}},
            cast_to=dict,
        )
    assert small["text"] == "Hello from the fake engine."


def test_full_queue_is_429_and_a_disconnect_frees_the_engine(serve):
    server = serve(CONFIG)
    words = " ".join(f"w{i}" for i in range(40))  # 2 s of work at 0.05 s per word
    with httpx.Client(base_url=server.base_url, timeout=10) as http, sdk(server) as client:
        with http.stream("POST", "/v1/test/speech", json={"model": "tts-1", "input": words}) as r:
            assert r.status_code == 200
            chunks = r.iter_bytes()  # keep a reference: a dropped iterator closes the response
            next(chunks)  # the engine is busy with this request now
            with pytest.raises(openai.RateLimitError) as busy:
                client.post("/test/speech", body={"model": "tts-1", "input": "x"}, cast_to=str)
            assert busy.value.code == "rate_limit_exceeded"
            assert int(busy.value.response.headers["retry-after"]) >= 1
        # the client hung up mid-stream: the slot must come back well before the 2 s of work
        deadline = time.monotonic() + 1.5
        while True:
            response = http.post("/v1/test/speech", json={"model": "tts-1", "input": "again"})
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert response.status_code == 200
        assert len(response.content) == 2400 * 2


def test_websocket_auth_on_a_real_server(serve):
    server = serve(CONFIG, env={"VOXGATE_API_KEYS": KEY})
    ws_url = server.base_url.replace("http://", "ws://") + "/v1/test/ws"

    async def attempt(url: str, **kwargs) -> str:
        async with websockets.connect(url, open_timeout=5, **kwargs) as socket:
            return str(await socket.recv())

    assert (
        asyncio.run(attempt(ws_url, additional_headers={"Authorization": f"Bearer {KEY}"}))
        == "hello"
    )
    assert asyncio.run(attempt(f"{ws_url}?api_key={KEY}")) == "hello"
    protocols = ["realtime", f"openai-insecure-api-key.{KEY}"]
    assert asyncio.run(attempt(ws_url, subprotocols=protocols)) == "hello"
    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(attempt(ws_url))
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["error"]["code"] == "invalid_api_key"
    assert KEY not in server.log


def test_warns_when_open_beyond_loopback(serve):
    server = serve(CONFIG, env={"VOXGATE_HOST": "0.0.0.0"})
    assert "no API keys configured and listening beyond loopback" in server.log
