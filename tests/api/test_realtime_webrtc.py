"""POST /v1/realtime/calls: a Realtime session over WebRTC, with ``aiortc`` as the caller.

The app is served on loopback with API keys; the official SDK mints a client secret and
sends the offer (``client.realtime.calls.create``) with it, as a browser's backend and page
would. The caller's track plays a spoken clip in real time; the fake STT engine hears
``HEARD``, the fake LLM answers, the fake TTS engine speaks each word as 0.1 s of tone on
the server's track.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import time
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame
from clips import speech_24k
from servers import served

import voxgate_openai_upstream
import voxgate_pyav
from tests.api.conftest import HEARD, conversation_toml
from voxgate.api.realtime_calls import calls_of
from voxgate.services.realtime import webrtc
from voxgate.testing import build_test_app

KEYS = {"VOXGATE_API_KEYS": "sk-real"}
RATE = 24_000
FRAME = RATE // 50
SESSION: dict[str, Any] = {
    "type": "realtime",
    "audio": {
        "input": {
            "transcription": {"model": "whisper-1"},
            "turn_detection": {"type": "server_vad"},
        },
        "output": {"voice": "tone"},
    },
}


def clip() -> np.ndarray:
    """3 s of the spoken fixture (after its leading second of silence), then 1.5 s of silence."""
    pcm = np.frombuffer(speech_24k(), dtype="<i2")
    return np.concatenate([pcm[: RATE * 4], np.zeros(RATE * 3 // 2, dtype="<i2")])


class ClipTrack(MediaStreamTrack):
    """A microphone playing ``samples`` in real time, then silence."""

    kind = "audio"

    def __init__(self, samples: np.ndarray) -> None:
        super().__init__()
        self.samples = samples
        self.position = 0
        self.start: float | None = None

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic()
        else:
            await asyncio.sleep(self.start + self.position / RATE - time.monotonic())
        chunk = self.samples[self.position : self.position + FRAME]
        chunk = np.pad(chunk, (0, FRAME - len(chunk)))
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(chunk.astype("<i2").tobytes())
        frame.pts = self.position
        frame.sample_rate = RATE
        frame.time_base = fractions.Fraction(1, RATE)
        self.position += FRAME
        return frame


class Caller:
    """An aiortc peer: a microphone track, the ``oai-events`` channel, the answer recorded."""

    def __init__(self, samples: np.ndarray) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTrack(ClipTrack(samples))
        self.channel = self.pc.createDataChannel("oai-events")
        self.events: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.heard: list[np.ndarray] = []  # the server's track, while an answer plays
        self.channel.on("message", self._message)
        self.pc.on("track", lambda track: asyncio.ensure_future(self._record(track)))

    def _message(self, message: str) -> None:
        self.events.append(json.loads(message))
        self.arrived.set()

    async def _record(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if any(e["type"] == "output_audio_buffer.started" for e in self.events):
                self.heard.append(frame.to_ndarray().reshape(-1))

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def until(self, kind: str, timeout: float = 30) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if event["type"] == kind:
                        return event
                self.arrived.clear()
                await self.arrived.wait()

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]


@pytest.fixture
def server(plugins, fake_upstream, request):
    app = build_test_app(
        conversation_toml(fake_upstream.url),
        [*plugins, voxgate_pyav, voxgate_openai_upstream],
        environ=KEYS,
    )
    request.node.app = app
    with served(app) as address:
        yield address


def sdk(address: str, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=key, base_url=f"http://{address}/v1", max_retries=0)


async def test_a_spoken_turn_over_webrtc_with_a_client_secret(server, request):
    async with sdk(server, "sk-real") as backend:
        secret = await backend.realtime.client_secrets.create(session=SESSION)  # type: ignore[arg-type]
    caller = Caller(clip())
    try:
        async with sdk(server, secret.value) as browser:
            answer = await browser.realtime.calls.create(sdp=await caller.offer())
            location = answer.response.headers["location"]
            assert answer.response.status_code == 201
            assert answer.response.headers["content-type"].startswith("application/sdp")
            await caller.answer(answer.text)
            created = await caller.until("session.created")
            assert created["session"]["audio"]["output"]["voice"] == "tone"  # the secret's
            completed = await caller.until("conversation.item.input_audio_transcription.completed")
            assert completed["transcript"] == HEARD
            done = await caller.until("response.done")
            assert done["response"]["status"] == "completed"
            stopped = await caller.until("output_audio_buffer.stopped")
            assert stopped["response_id"] == done["response"]["id"]
            types = caller.types()
            assert "output_audio_buffer.started" in types
            assert "response.output_audio.delta" not in types  # audio goes on the track only
            assert "response.output_audio_transcript.delta" in types
            heard = np.concatenate(caller.heard).astype(np.float32)
            assert np.sqrt(np.mean(heard**2)) > 300, "the answer on the track is silent"
            call_id = location.rsplit("/", 1)[-1]
            await browser.realtime.calls.hangup(call_id)
        assert calls_of(request.node.app.state.runtime) == {}
    finally:
        await caller.pc.close()


async def test_the_sdk_multipart_offer_with_a_session_and_a_real_key(server, request):
    caller = Caller(np.zeros(RATE, dtype="<i2"))
    try:
        async with sdk(server, "sk-real") as client:
            session = {**SESSION, "instructions": "Be brief."}
            answer = await client.realtime.calls.create(sdp=await caller.offer(), session=session)  # type: ignore[arg-type]
            await caller.answer(answer.text)
            created = await caller.until("session.created")
            assert created["session"]["instructions"] == "Be brief."
            call_id = answer.response.headers["location"].rsplit("/", 1)[-1]
            await client.realtime.calls.hangup(call_id)
            with pytest.raises(openai.NotFoundError):
                await client.realtime.calls.hangup(call_id)
    finally:
        await caller.pc.close()


async def test_a_raw_sdp_body_as_the_browser_sends_it(server):
    async with sdk(server, "sk-real") as backend:
        secret = await backend.realtime.client_secrets.create(session=SESSION)  # type: ignore[arg-type]
    caller = Caller(np.zeros(RATE, dtype="<i2"))
    try:
        async with httpx.AsyncClient(base_url=f"http://{server}") as http:
            reply = await http.post(
                "/v1/realtime/calls?model=gpt-realtime",
                content=await caller.offer(),
                headers={
                    "Authorization": f"Bearer {secret.value}",
                    "Content-Type": "application/sdp",
                },
            )
        assert reply.status_code == 201, reply.text
        assert reply.text.startswith("v=0")
        await caller.answer(reply.text)
        assert (await caller.until("session.created"))["session"]["type"] == "realtime"
    finally:
        await caller.pc.close()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("hello", "application/sdp"),
        ("v=0\r\nthis is not sdp\r\n", "application/sdp"),
        ("", "application/sdp"),
        ('{"sdp": "v=0"}', "application/json"),
    ],
    ids=["not-sdp", "broken-sdp", "empty", "json"],
)
async def test_a_bad_offer_is_400_with_the_envelope(server, request, body, content_type):
    async with sdk(server, "sk-real") as backend:
        secret = await backend.realtime.client_secrets.create(session=SESSION)  # type: ignore[arg-type]
    async with httpx.AsyncClient(base_url=f"http://{server}") as http:
        reply = await http.post(
            "/v1/realtime/calls",
            content=body,
            headers={"Authorization": f"Bearer {secret.value}", "Content-Type": content_type},
        )
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "sdp"
    assert calls_of(request.node.app.state.runtime) == {}


async def test_a_call_that_never_connects_is_cleaned_up(server, request, monkeypatch):
    monkeypatch.setattr(webrtc, "CONNECT_TIMEOUT_S", 0.5)
    caller = Caller(np.zeros(RATE, dtype="<i2"))
    try:
        async with sdk(server, "sk-real") as client:
            await client.realtime.calls.create(sdp=await caller.offer(), session=SESSION)  # type: ignore[arg-type]
        runtime = request.node.app.state.runtime
        assert len(calls_of(runtime)) == 1
        async with asyncio.timeout(5):  # the answer is never applied: no connection
            while calls_of(runtime):
                await asyncio.sleep(0.1)
        assert runtime.state["websockets_open"] == 0  # its session slot is free again
    finally:
        await caller.pc.close()


async def test_a_clear_drops_the_answer_playing_on_the_track(server):
    caller = Caller(np.zeros(RATE * 30, dtype="<i2"))
    try:
        async with sdk(server, "sk-real") as client:
            answer = await client.realtime.calls.create(sdp=await caller.offer(), session=SESSION)  # type: ignore[arg-type]
            await caller.answer(answer.text)
            await caller.until("session.created")
            caller.channel.send(json.dumps({"type": "response.create"}))  # a response, no VAD
            started = await caller.until("output_audio_buffer.started")
            caller.channel.send(json.dumps({"type": "output_audio_buffer.clear"}))
            cleared = await caller.until("output_audio_buffer.cleared")
            assert cleared["response_id"] == started["response_id"]
            await caller.until("response.done")
            assert "output_audio_buffer.stopped" not in caller.types()
    finally:
        await caller.pc.close()


async def test_calls_take_the_realtime_session_slots(plugins, fake_upstream):
    toml = conversation_toml(fake_upstream.url) + "\n[server]\nmax_websockets = 1\n"
    app = build_test_app(toml, [*plugins, voxgate_pyav, voxgate_openai_upstream])
    first, second = Caller(np.zeros(RATE, dtype="<i2")), Caller(np.zeros(RATE, dtype="<i2"))
    try:
        with served(app) as address:
            async with sdk(address, "any") as client:
                await client.realtime.calls.create(sdp=await first.offer(), session=SESSION)  # type: ignore[arg-type]
                with pytest.raises(openai.InternalServerError) as info:
                    await client.realtime.calls.create(sdp=await second.offer(), session=SESSION)  # type: ignore[arg-type]
                assert info.value.status_code == 503
                assert "max_websockets" in info.value.message
    finally:
        await first.pc.close()
        await second.pc.close()


async def test_a_call_without_a_chat_upstream_says_so_at_once(plugins):
    toml = conversation_toml("http://127.0.0.1:9/v1").split("[chat.upstream]")[0]
    toml += '\n[models]\n"whisper-1" = "fake-stt"\n"tts-1" = { tts = "tone" }\n'
    app = build_test_app(toml, [*plugins, voxgate_pyav])
    caller = Caller(np.zeros(RATE, dtype="<i2"))
    try:
        with served(app) as address:
            async with sdk(address, "any") as client:
                answer = await client.realtime.calls.create(
                    sdp=await caller.offer(), session=SESSION
                )  # type: ignore[arg-type]
                await caller.answer(answer.text)
                error = await caller.until("error")
        assert "chat" in error["error"]["message"].lower(), error
    finally:
        await caller.pc.close()
