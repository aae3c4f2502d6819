"""Limits of the WebSocket sessions: what a hostile or forgetful client cannot make them hold.

Prompt length and language are checked like the HTTP endpoint's; odd-byte pcm16 is refused;
an idle socket is closed so idle clients cannot hold every slot; one API key per handshake;
a browser's subprotocol is echoed; a client that does not read its events loses its session.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest
from servers import served
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from voxgate.api import realtime as realtime_api
from voxgate.errors import InvalidRequestError
from voxgate.services.realtime.outbox import Outbox
from voxgate.testing import build_test_app
from voxgate.wire import realtime_events as events

TRANSCRIPTION = "/v1/realtime?intent=transcription"
LIVE = "/v1/audio/transcriptions-realtime"


def _send(socket, event: dict) -> None:
    socket.send(json.dumps(event))


def _next_error(socket) -> dict:
    while True:
        event = json.loads(socket.recv(timeout=10))
        if event["type"] == "error":
            return event["error"]


def _until_closed(socket) -> ConnectionClosed:
    """Read until the server closes the socket; how it closed it."""
    try:
        while True:
            socket.recv(timeout=5)
    except ConnectionClosed as closed:
        return closed


def _transcription_update(**transcription) -> dict:
    return {
        "type": "session.update",
        "session": {
            "type": "transcription",
            "audio": {"input": {"transcription": {"model": "whisper-1", **transcription}}},
        },
    }


@pytest.fixture
def address(plugins):
    app = build_test_app("[server]\nwebsocket_idle_timeout = 0.5\n", plugins)
    with served(app) as served_address:
        yield served_address


def test_prompt_and_language_are_checked_as_over_http(plugins):
    app = build_test_app(
        '[stt.fake-stt]\nkind = "fake-stt"\n[models]\n"whisper-1" = "fake-stt"\n', plugins
    )
    with served(app) as address, connect(f"ws://{address}{TRANSCRIPTION}") as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "session.created"
        _send(socket, _transcription_update(prompt="x" * 4097))
        error = _next_error(socket)
        assert error["param"] == "session.audio.input.transcription.prompt"
        assert error["code"] == "string_above_max_length"
        _send(socket, _transcription_update(language="klingon"))
        assert _next_error(socket)["param"] == "session.audio.input.transcription.language"
        _send(socket, _transcription_update(languages=["German"]))  # gpt-transcribe's list
        updated = json.loads(socket.recv(timeout=10))
        assert updated["type"] == "session.updated"
        assert updated["session"]["audio"]["input"]["transcription"]["language"] == "de"


def test_odd_byte_pcm16_is_refused_and_the_session_goes_on(plugins):
    app = build_test_app("", plugins)
    with served(app) as address, connect(f"ws://{address}{TRANSCRIPTION}") as socket:
        socket.recv(timeout=10)
        odd = base64.b64encode(b"\x00\x01\x02").decode()
        _send(socket, {"type": "input_audio_buffer.append", "audio": odd})
        error = _next_error(socket)
        assert (error["code"], error["param"]) == ("invalid_audio", "audio")
        _send(socket, {"type": "input_audio_buffer.clear"})
        assert json.loads(socket.recv(timeout=10))["type"] == "input_audio_buffer.cleared"


@pytest.mark.parametrize("path", [TRANSCRIPTION, LIVE])
def test_an_idle_socket_is_closed_and_its_slot_freed(address, path, request):
    with connect(f"ws://{address}{path}") as socket:
        started = time.monotonic()
        closed = _until_closed(socket)
        assert time.monotonic() - started < 3
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (1000, "idle")


def test_one_api_key_per_handshake(plugins):
    app = build_test_app("", plugins, environ={"VOXGATE_API_KEYS": "sk-good,sk-other"})
    with served(app) as address:
        url = f"ws://{address}{TRANSCRIPTION}"
        with connect(url, additional_headers={"Authorization": "Bearer sk-good"}) as socket:
            assert json.loads(socket.recv(timeout=10))["type"] == "session.created"
        guesses = [
            {"additional_headers": {"Authorization": "Bearer sk-good"}, "url": url + "&api_key=x"},
            {"url": url + "&api_key=sk-good&api_key=sk-other"},
            {
                "url": url,
                "subprotocols": ["openai-insecure-api-key.a", "openai-insecure-api-key.sk-good"],
            },
        ]
        for guess in guesses:
            with pytest.raises(InvalidStatus) as refused:
                connect(guess.pop("url"), **guess)
            assert refused.value.response.status_code == 401
            assert "one API key" in json.loads(refused.value.response.body)["error"]["message"]


@pytest.mark.parametrize(
    ("offered", "echoed"),
    [
        (["openai-insecure-api-key.sk-good"], "openai-insecure-api-key.sk-good"),
        (["realtime", "openai-insecure-api-key.sk-good"], "realtime"),
    ],
)
def test_the_live_socket_echoes_a_browser_subprotocol(plugins, offered, echoed):
    app = build_test_app("", plugins, environ={"VOXGATE_API_KEYS": "sk-good"})
    with served(app) as address, connect(f"ws://{address}{LIVE}", subprotocols=offered) as socket:
        assert socket.subprotocol == echoed


def test_a_refused_handshake_says_when_to_retry(plugins):
    app = build_test_app("[server]\nmax_websockets = 1\n", plugins)
    with served(app) as address, connect(f"ws://{address}{TRANSCRIPTION}") as first:
        first.recv(timeout=10)
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://{address}{TRANSCRIPTION}")
        assert refused.value.response.headers["Retry-After"] == "5"


def test_the_outbox_gives_up_on_a_client_that_does_not_read():
    outbox = Outbox(beta=False, limit=3)
    for _ in range(5):
        outbox.send(events.BufferCleared())
    assert outbox.overflowed
    assert asyncio.run(outbox.next()) is None, "the sender stops at once"
    outbox.error(InvalidRequestError("dropped"))  # nothing more is queued
    assert outbox.pending() == 4  # the three events and the sender's stop


class _StuckSocket:
    """A socket whose client never takes a frame: every send waits for ever."""

    def __init__(self) -> None:
        self.closed: tuple[int, str] | None = None

    async def send_data(self, data: str, mode: str) -> None:
        await asyncio.Event().wait()

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


class _Session:
    def __init__(self) -> None:
        self.outbox = Outbox(beta=False)
        self.config = type("Config", (), {"id": "sess_test"})()


async def test_a_send_that_never_completes_ends_the_session(monkeypatch):
    monkeypatch.setattr(realtime_api, "SEND_TIMEOUT_S", 0.2)
    socket, session = _StuckSocket(), _Session()
    session.outbox.send(events.BufferCleared())
    started = time.monotonic()
    await asyncio.wait_for(realtime_api._send_events(socket, session), 5)  # type: ignore[arg-type]
    assert time.monotonic() - started < 2
    assert socket.closed == (1008, "the client did not read its events")


EXAMPLES = {
    "session.update": {"session": {"type": "transcription"}},
    "transcription_session.update": {"session": {}},
    "input_audio_buffer.append": {"audio": base64.b64encode(bytes(480)).decode()},
    "input_audio_buffer.commit": {},
    "input_audio_buffer.clear": {},
    "output_audio_buffer.clear": {},
    "conversation.item.create": {
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Hi"}],
        }
    },
    "conversation.item.retrieve": {"item_id": "item_nope"},
    "conversation.item.truncate": {"item_id": "item_nope", "content_index": 0, "audio_end_ms": 0},
    "conversation.item.delete": {"item_id": "item_nope"},
    "response.create": {},
    "response.cancel": {},
}


def test_every_client_event_type_has_a_handler(plugins):
    """Each type the decoder accepts is answered by its handler, never by the catch-all error."""
    from voxgate.wire.realtime import CLIENT_EVENT_TYPES

    assert set(EXAMPLES) == CLIENT_EVENT_TYPES, "an example for every client event type"
    toml = '[stt.fake-stt]\nkind = "fake-stt"\n[models]\n"whisper-1" = "fake-stt"\n'
    app = build_test_app(toml, plugins)
    with served(app) as address, connect(f"ws://{address}{TRANSCRIPTION}") as socket:
        socket.recv(timeout=10)
        for kind, fields in EXAMPLES.items():
            _send(socket, {"type": kind, "event_id": f"client_{kind}", **fields})
        _send(socket, {"type": "input_audio_buffer.clear", "event_id": "last"})
        seen: list[dict] = []
        while sum(e["type"] == "input_audio_buffer.cleared" for e in seen) < 2:  # ours, "last"
            seen.append(json.loads(socket.recv(timeout=10)))
    errors = [e["error"] for e in seen if e["type"] == "error"]
    assert errors, "some examples are refused (unknown items, no response to cancel)"
    for error in errors:
        assert error["type"] == "invalid_request_error", error
        assert "server log" not in error["message"], error


DIARIZING = (
    '[stt.fake-stt]\nkind = "fake-stt"\n'
    '[diarize.fake]\nkind = "fake-diarize"\nturn_seconds = 3.0\n'
    '[models]\n"gpt-4o-transcribe-diarize" = { stt = "fake-stt", diarize = "fake" }\n'
)


def _diarized_turn(socket, seconds: float) -> list[dict]:
    silence = bytes(2 * round(24_000 * seconds))
    for start in range(0, len(silence), 4_800):
        audio = base64.b64encode(silence[start : start + 4_800]).decode()
        _send(socket, {"type": "input_audio_buffer.append", "audio": audio})
    _send(socket, {"type": "input_audio_buffer.commit"})
    seen: list[dict] = []
    while not seen or seen[-1]["type"] != "conversation.item.input_audio_transcription.completed":
        seen.append(json.loads(socket.recv(timeout=10)))
    return [e for e in seen if e["type"].endswith(".segment")]


def test_a_diarizing_model_sends_speaker_segments_with_labels_kept_across_turns(plugins):
    """Each turn's speakers come as ``.segment`` events; a voice heard before keeps its label."""
    from openai.types.realtime import RealtimeServerEvent
    from pydantic import TypeAdapter

    from voxgate.testing.fakes import FakeDiarizer

    app = build_test_app(DIARIZING, plugins)
    update = {
        "type": "session.update",
        "session": {
            "type": "transcription",
            "audio": {
                "input": {
                    "transcription": {"model": "gpt-4o-transcribe-diarize"},
                    "turn_detection": None,
                }
            },
        },
    }
    with served(app) as address, connect(f"ws://{address}{TRANSCRIPTION}") as socket:
        socket.recv(timeout=10)
        _send(socket, update)
        assert json.loads(socket.recv(timeout=10))["type"] == "session.updated"
        first = _diarized_turn(socket, 4.0)  # a segment a second; the speaker changes at 3 s
        assert [e["speaker"] for e in first] == ["A", "A", "A", "B"]
        assert first[0]["text"] == "Hello from the fake engine."
        assert (first[3]["start"], first[3]["end"]) == (3.0, 4.0)
        for event in first:
            TypeAdapter(RealtimeServerEvent).validate_python(event)
        assert FakeDiarizer.last_options is not None
        assert FakeDiarizer.last_options.known_speakers == ()
        second = _diarized_turn(socket, 4.0)
    known = [speaker.name for speaker in FakeDiarizer.last_options.known_speakers]
    assert known == ["A"], "A was heard for 3 s (a reference), B for 1 s (too short)"
    assert [e["speaker"] for e in second] == ["A", "A", "A", "C"], "a new voice never takes B"
