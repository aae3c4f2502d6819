"""Shared state through the app: what needs it fails with 503 when it is gone, nothing else.

The "gone" store is a ``redis://`` URL where nothing listens, so these run without Redis;
the apps that share a real ``redis-server`` show two replicas agreeing, in-process.
tests/contract/test_scale_out.py does the same with real processes behind HAProxy.
"""

from __future__ import annotations

import asyncio
import base64
from typing import TYPE_CHECKING

import pytest
from servers import free_port
from system_servers import Redis

import voxgate_openai_upstream
import voxgate_pyav
from tests.api.test_chat import audio_message, chat_toml, wav_bytes
from voxgate.testing import app_client

if TYPE_CHECKING:
    from pathlib import Path

SPEECH = {"model": "tts-1", "input": "Hello there.", "voice": "tone", "response_format": "wav"}
REMAP = {"instance": "tone", "voice": "alloy", "engine_voice": "low"}
SECRET = {"session": {"type": "transcription"}}


def with_state(toml: str, url: str) -> str:
    return f'{toml}\n[state]\nurl = "{url}"\ntimeout = 0.5\nmax_backoff = 0.2\n'


@pytest.fixture
def chat_plugins(plugins):
    return [*plugins, voxgate_pyav, voxgate_openai_upstream]


@pytest.fixture
def unreachable() -> str:
    return f"redis://:secret@127.0.0.1:{free_port()}/0"


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "state_unavailable"
    assert set(error) == {"message", "type", "param", "code"}
    assert response.headers["retry-after"] == "1"


async def test_without_the_store_only_what_needs_it_fails(chat_plugins, fake_upstream, unreachable):
    toml = with_state(chat_toml(fake_upstream.url), unreachable)
    async with app_client(toml, chat_plugins) as client:
        ready = await client.get("/ready")
        assert ready.status_code == 200, "replicas stay in rotation for what still works"
        assert ready.json()["status"] == "degraded"
        assert "shared state: redis at redis://***@127.0.0.1" in ready.json()["reasons"][0]
        assert "secret" not in ready.text
        # needs the store: 503 with the envelope, before any engine or upstream work
        assert_unavailable(await client.put("/v1/audio/voices/mapping", json=REMAP))
        spoken = {"modalities": ["text", "audio"], "audio": {"voice": "tone", "format": "wav"}}
        hello = [{"role": "user", "content": "Hi"}]
        chat = {"model": "m", "messages": hello, **spoken}
        assert_unavailable(await client.post("/v1/chat/completions", json=chat))
        heard = {"model": "m", "messages": [audio_message(wav_bytes(1.0))]}
        assert_unavailable(await client.post("/v1/chat/completions", json=heard))
        earlier = [*hello, {"role": "assistant", "audio": {"id": "audio_1"}}]
        assert_unavailable(
            await client.post("/v1/chat/completions", json={"model": "m", "messages": earlier})
        )
        assert fake_upstream.requests == [], "refused before the upstream was asked"
        minted = await client.post("/v1/realtime/client_secrets", json=SECRET)
        assert_unavailable(minted)
        call = await client.post(
            "/v1/realtime/calls",
            content=b"v=0",
            headers={"Authorization": "Bearer ek_anything", "Content-Type": "application/sdp"},
        )
        assert_unavailable(call)  # not "unknown secret": the store could not be asked
        # needs nothing shared: works
        text = await client.post("/v1/chat/completions", json={"model": "m", "messages": hello})
        assert text.status_code == 200, text.text
        speech = await client.post("/v1/audio/speech", json=SPEECH)
        assert speech.status_code == 200, speech.text
        mapping = await client.get("/v1/audio/voices/mapping")
        assert mapping.status_code == 200
        files = {"file": ("a.wav", wav_bytes(1.0), "audio/wav")}
        heard_text = await client.post(
            "/v1/audio/transcriptions", data={"model": "whisper-1"}, files=files
        )
        assert heard_text.status_code == 200, heard_text.text


@pytest.fixture
def redis_server(tmp_path: Path):
    server = Redis(tmp_path).start()
    yield server
    server.stop()


async def _until(check, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "not within the time allowed"
        await asyncio.sleep(0.05)


async def test_two_apps_on_one_redis_share_state(chat_plugins, fake_upstream, redis_server):
    toml = with_state(chat_toml(fake_upstream.url), redis_server.url)
    async with app_client(toml, chat_plugins) as one, app_client(toml, chat_plugins) as two:
        # a remap through one reaches the other within a second (pub/sub)
        assert (await one.put("/v1/audio/voices/mapping", json=REMAP)).status_code == 200

        async def remapped() -> bool:
            mapping = (await two.get("/v1/audio/voices/mapping")).json()
            return mapping["tone"].get("alloy") == "low"

        await _until(remapped, timeout=1.0)
        # a client secret minted on one opens realtime connections on the other
        minted = await one.post("/v1/realtime/client_secrets", json=SECRET)
        assert minted.status_code == 200, minted.text
        bearer = {"Authorization": f"Bearer {minted.json()['value']}"}
        sdp = {**bearer, "Content-Type": "application/sdp"}
        call = await two.post("/v1/realtime/calls", content=b"not an offer", headers=sdp)
        assert call.status_code == 400, "past authentication: only the offer is refused"
        unknown = {"Authorization": "Bearer ek_unknown", "Content-Type": "application/sdp"}
        refused = await two.post("/v1/realtime/calls", content=b"not an offer", headers=unknown)
        assert refused.status_code == 401
        # a reply's audio id from one is resolved by the other
        spoken = {"modalities": ["text", "audio"], "audio": {"voice": "tone", "format": "wav"}}
        hello = [{"role": "user", "content": "Hi"}]
        first = await one.post(
            "/v1/chat/completions", json={"model": "m", "messages": hello, **spoken}
        )
        assert first.status_code == 200, first.text
        audio = first.json()["choices"][0]["message"]["audio"]
        earlier = [*hello, {"role": "assistant", "audio": {"id": audio["id"]}}]
        second = await two.post("/v1/chat/completions", json={"model": "m", "messages": earlier})
        assert second.status_code == 200, second.text
        assert fake_upstream.last["messages"][1] == {
            "role": "assistant",
            "content": audio["transcript"],
        }
        # a transcript cached by one is used by the other
        clip = base64.b64encode(wav_bytes(1.0)).decode()
        heard = {"model": "m", "messages": [audio_message(base64.b64decode(clip))]}
        assert (await one.post("/v1/chat/completions", json=heard)).status_code == 200
        steps = _stt_steps()
        assert (await two.post("/v1/chat/completions", json=heard)).status_code == 200
        assert _stt_steps() == steps, "the second replica transcribed nothing"


def _stt_steps() -> int:
    from voxgate.testing.fakes import FakeSttEngine

    return FakeSttEngine.steps


async def test_an_unreadable_shared_mapping_keeps_the_one_in_use(
    chat_plugins, fake_upstream, redis_server
):
    import redis.asyncio

    toml = with_state(chat_toml(fake_upstream.url), redis_server.url)
    async with app_client(toml, chat_plugins) as client:
        assert (await client.put("/v1/audio/voices/mapping", json=REMAP)).status_code == 200
        raw = redis.asyncio.Redis.from_url(redis_server.url)
        await raw.set("voxgate:voices:mapping", b"{not json")
        await raw.publish("voxgate:channel:voices", b"changed")
        await asyncio.sleep(0.3)
        mapping = (await client.get("/v1/audio/voices/mapping")).json()
        assert mapping["tone"]["alloy"] == "low", "the mapping in use was kept"
        await raw.set("voxgate:voices:mapping", b'{"tone": {"alloy": "tone"}}')
        await raw.publish("voxgate:channel:voices", b"changed")
        await raw.aclose()

        async def followed() -> bool:
            mapping = (await client.get("/v1/audio/voices/mapping")).json()
            return mapping["tone"].get("alloy") == "tone"

        await _until(followed, timeout=2.0)
