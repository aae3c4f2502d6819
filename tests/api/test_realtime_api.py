"""WS /v1/realtime with fake STT/TTS engines, real Silero VAD and a fake LLM on loopback.

The app runs in uvicorn on a thread (the SDK's realtime client needs a real socket). Audio
is the espeak-ng fixture, streamed in 100 ms chunks; the fake STT engine "hears" a scripted
sentence per second and the fake TTS engine says each word as 0.1 s of tone, so transcripts
and audio lengths are exact. tests/contract/test_realtime_api.py runs the real engines.
"""

from __future__ import annotations

import base64
import json
import threading
import time

import openai
import pytest
from clips import speech_24k
from servers import served
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

import voxgate_pyav
from tests.api.conftest import HEARD
from voxgate.engines.audio import PcmAudio
from voxgate.services.realtime import audio as formats
from voxgate.services.realtime.session import RealtimeSession
from voxgate.testing import build_test_app, fakes

# The SDK's realtime client opens its socket without websockets' context manager.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:connect\(\) must be used as a context manager:DeprecationWarning"
)


@pytest.fixture
def server(conversation_server):
    return conversation_server


@pytest.fixture
def sdk(server):
    with openai.OpenAI(
        api_key="dummy",
        base_url=f"http://{server}/v1",
        websocket_base_url=f"ws://{server}/v1",
        max_retries=0,
    ) as client:
        yield client


SPEECH = speech_24k()
CHUNK = 2 * 2_400  # 100 ms of 24 kHz pcm16


def chunks(data: bytes, size: int = CHUNK):
    for start in range(0, len(data), size):
        yield base64.b64encode(data[start : start + size]).decode()


def events_until(connection, last: str, timeout: float = 20) -> list:
    """Received events, through the first of type ``last``."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = connection.recv()
        seen.append(event)
        if event.type == last:
            return seen
    pytest.fail(f"no {last} in {[e.type for e in seen]}")


def raw_events_until(socket, last: str, timeout: float = 20) -> list[dict]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = json.loads(socket.recv(timeout=timeout))
        seen.append(event)
        if event["type"] == last:
            return seen
    pytest.fail(f"no {last} in {[e['type'] for e in seen]}")


TRANSCRIPTION = "/v1/realtime?intent=transcription"
MANUAL_TRANSCRIPTION = {
    "type": "transcription",
    "audio": {"input": {"transcription": {"model": "whisper-1"}, "turn_detection": None}},
}


def received_until(ws, last: str) -> list[dict]:
    """Events from a Litestar test socket, through the first of type ``last``."""
    seen = []
    while not seen or seen[-1]["type"] != last:
        seen.append(ws.receive_json(timeout=20))
    return seen


# -- transcription sessions ---------------------------------------------------------------------


def test_transcription_session_with_server_vad(sdk):
    with sdk.realtime.connect(extra_query={"intent": "transcription"}) as connection:
        created = connection.recv()
        assert created.type == "session.created"
        assert created.session.type == "transcription"
        connection.session.update(
            session={
                "type": "transcription",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "transcription": {"model": "whisper-1", "language": "en"},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
                    }
                },
            }
        )
        updated = connection.recv()
        assert updated.type == "session.updated"
        assert updated.session.audio.input.transcription.model == "whisper-1"
        for piece in chunks(SPEECH):
            connection.input_audio_buffer.append(audio=piece)
        events = events_until(connection, "conversation.item.done")
    types = [e.type for e in events]
    order = [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.done",
    ]
    assert [t for t in types if t in order] == order
    started, stopped, committed = (events[types.index(name)] for name in order[:3])
    assert started.item_id == stopped.item_id == committed.item_id
    assert 600 <= started.audio_start_ms <= 1100, "speech begins 1 s in, minus 300 ms padding"
    assert 10_500 <= stopped.audio_end_ms <= 11_300, "and ends about 11 s in"
    completed = events[types.index("conversation.item.input_audio_transcription.completed")]
    assert completed.transcript == HEARD
    assert completed.usage.type == "duration"
    assert completed.usage.seconds == pytest.approx(10.3, abs=0.6)


def test_manual_commits_and_the_100_ms_rule(sdk):
    with sdk.realtime.connect(extra_query={"intent": "transcription"}) as connection:
        connection.recv()
        connection.session.update(
            session={"type": "transcription", "audio": {"input": {"turn_detection": None}}}
        )
        assert connection.recv().type == "session.updated"
        connection.input_audio_buffer.append(audio=base64.b64encode(b"\0" * 2 * 1200).decode())
        connection.input_audio_buffer.commit()
        error = connection.recv()
        assert error.type == "error"
        assert error.error.code == "input_audio_buffer_commit_empty"
        for piece in chunks(SPEECH[: 2 * 24_000 * 2]):  # 2 s: still open after the error
            connection.input_audio_buffer.append(audio=piece)
        connection.input_audio_buffer.commit()
        events = events_until(connection, "conversation.item.done")
        assert events[0].type == "input_audio_buffer.committed"
        assert events[-2].transcript == HEARD
        connection.input_audio_buffer.clear()
        assert connection.recv().type == "input_audio_buffer.cleared"


def test_segments_without_a_leading_space_are_joined_with_one(plugins):
    from litestar.testing import TestClient

    bare = '[stt.bare]\nkind = "fake-stt"\ntexts = ["Hello.", "World."]\nleading_space = false\n'
    app = build_test_app(bare + '[models]\n"whisper-1" = "bare"\n', plugins)
    two_seconds = PcmAudio.silence(2.0, 24_000).to_pcm16()
    with TestClient(app) as client, client.websocket_connect(TRANSCRIPTION) as ws:
        assert ws.receive_json()["type"] == "session.created"
        ws.send_json({"type": "session.update", "session": MANUAL_TRANSCRIPTION})
        assert ws.receive_json()["type"] == "session.updated"
        for piece in chunks(two_seconds):
            ws.send_json({"type": "input_audio_buffer.append", "audio": piece})
        ws.send_json({"type": "input_audio_buffer.commit"})
        events = received_until(ws, "conversation.item.done")
    deltas = [
        e["delta"]
        for e in events
        if e["type"] == "conversation.item.input_audio_transcription.delta"
    ]
    assert deltas == ["Hello.", " World."]
    (completed,) = [
        e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"
    ]
    assert completed["transcript"] == "Hello. World."
    assert events[-1]["item"]["content"][0]["transcript"] == "Hello. World."


def test_deleting_an_item_cancels_its_transcription(plugins, monkeypatch):
    from litestar.testing import TestClient

    gate = fakes.GATES.setdefault("held", threading.Event())
    working = threading.Event()
    wait = fakes._wait

    def held_at_the_gate(name: str | None, delay: float) -> None:
        working.set()
        wait(name, delay)

    monkeypatch.setattr(fakes, "_wait", held_at_the_gate)
    held = '[stt.held]\nkind = "fake-stt"\ngate = "held"\n[models]\n"whisper-1" = "held"\n'
    app = build_test_app(held, plugins)
    with TestClient(app) as client, client.websocket_connect(TRANSCRIPTION) as ws:
        assert ws.receive_json()["type"] == "session.created"
        ws.send_json({"type": "session.update", "session": MANUAL_TRANSCRIPTION})
        assert ws.receive_json()["type"] == "session.updated"
        for piece in chunks(PcmAudio.silence(2.0, 24_000).to_pcm16()):  # two fake segments
            ws.send_json({"type": "input_audio_buffer.append", "audio": piece})
        ws.send_json({"type": "input_audio_buffer.commit"})
        committed = received_until(ws, "conversation.item.added")[0]
        assert committed["type"] == "input_audio_buffer.committed"
        item_id = committed["item_id"]
        assert working.wait(5), "the engine is at work on the first segment"
        ws.send_json({"type": "conversation.item.delete", "item_id": item_id})
        deleted = received_until(ws, "conversation.item.deleted")
        assert [e["type"] for e in deleted] == ["conversation.item.deleted"]
        gate.set()  # the engine, held mid-work, may go on: nothing may come of it
        deadline = time.monotonic() + 5
        while fakes.FakeSttEngine.closed < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        ws.send_json({"type": "input_audio_buffer.clear"})
        after = received_until(ws, "input_audio_buffer.cleared")
    assert [e["type"] for e in after] == ["input_audio_buffer.cleared"], "no events for the item"
    assert fakes.FakeSttEngine.closed == 1
    assert fakes.FakeSttEngine.steps == 1, "the engine stopped after its step in flight"


def test_bad_client_events_get_error_events_and_the_socket_stays_open(server):
    with connect(f"ws://{server}/v1/realtime?intent=transcription") as socket:
        assert json.loads(socket.recv())["type"] == "session.created"
        cases = [
            ("{not json", "invalid_json", None),
            ('{"event_id": "e1"}', "invalid_event", None),
            ('{"type": "input_audio_buffer.explode"}', "invalid_value", "type"),
            ('{"type": "input_audio_buffer.append", "audio": "***"}', "invalid_base64", "audio"),
            ('{"type": "input_audio_buffer.append"}', "invalid_event", None),
            ('{"type": "conversation.item.retrieve", "item_id": "nope"}', "item_not_found", "item_id"),
            ('{"type": "response.cancel"}', "response_cancel_not_active", None),
            ('{"type": "response.create"}', "invalid_session_type", None),
            ('{"type": "session.update", "session": {"audio": {"input": {"format": {"type": "audio/ogg"}}}}}',
             "invalid_request_error", "session.audio.input.format"),
            ('{"type": "session.update", "session": {"audio": {"input": {"transcription": {"model": "nope"}}}}}',
             "model_not_found", "session.audio.input.transcription.model"),
        ]  # fmt: skip
        for frame, code, param in cases:
            socket.send(frame)
            event = json.loads(socket.recv(timeout=10))
            assert event["type"] == "error", frame
            error = event["error"]
            assert (error["code"] or error["type"]) == code, (frame, error)
            if param is not None:
                assert error["param"] == param, (frame, error)
            assert error["message"]
        socket.send('{"type": "input_audio_buffer.clear", "event_id": "still-here"}')
        assert json.loads(socket.recv(timeout=10))["type"] == "input_audio_buffer.cleared"


def test_beta_names_with_the_openai_beta_header(server):
    headers = {"OpenAI-Beta": "realtime=v1"}
    with connect(
        f"ws://{server}/v1/realtime?intent=transcription", additional_headers=headers
    ) as socket:
        created = json.loads(socket.recv())
        assert created["type"] == "transcription_session.created"
        assert created["session"]["input_audio_format"] == "pcm16"
        socket.send(
            json.dumps(
                {
                    "type": "transcription_session.update",
                    "session": {
                        "input_audio_format": "g711_ulaw",
                        "input_audio_transcription": {"model": "whisper-1"},
                        "turn_detection": None,
                    },
                }
            )
        )
        updated = json.loads(socket.recv())
        assert updated["type"] == "transcription_session.updated"
        assert updated["session"]["input_audio_format"] == "g711_ulaw"
        speech = PcmAudio.from_pcm16(SPEECH[: 2 * 24_000 * 3], 24_000)
        ulaw = formats.encode("g711_ulaw", speech)
        for piece in chunks(ulaw, 800):
            socket.send(json.dumps({"type": "input_audio_buffer.append", "audio": piece}))
        socket.send(json.dumps({"type": "input_audio_buffer.commit"}))
        events = raw_events_until(socket, "conversation.item.input_audio_transcription.completed")
    types = [e["type"] for e in events]
    assert "conversation.item.created" in types
    assert "conversation.item.added" not in types
    assert events[-1]["transcript"] == HEARD


def test_many_sessions_at_once(server):
    """Eight transcription sessions stream and commit together; each gets its own transcript."""
    from concurrent.futures import ThreadPoolExecutor

    audio = SPEECH[: 2 * 24_000 * 2]

    def one_session(number: int) -> dict:
        with connect(f"ws://{server}/v1/realtime?intent=transcription") as socket:
            json.loads(socket.recv(timeout=10))
            update = {"type": "transcription", "audio": {"input": {"turn_detection": None}}}
            socket.send(json.dumps({"type": "session.update", "session": update}))
            for piece in chunks(audio):
                socket.send(json.dumps({"type": "input_audio_buffer.append", "audio": piece}))
            socket.send(json.dumps({"type": "input_audio_buffer.commit", "event_id": f"c{number}"}))
            events = raw_events_until(
                socket, "conversation.item.input_audio_transcription.completed", timeout=60
            )
            return {"session": events[0]["session"]["id"], "completed": events[-1]}

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one_session, range(8)))
    assert len({r["session"] for r in results}) == 8
    assert all(r["completed"]["transcript"] == HEARD for r in results)


# -- conversation sessions ----------------------------------------------------------------------


def conversation_update(connection, **extra) -> None:
    session = {
        "type": "realtime",
        "instructions": "Answer briefly.",
        "audio": {"output": {"voice": "tone"}, "input": {"turn_detection": None}},
        **extra,
    }
    connection.session.update(session=session)
    assert connection.recv().type == "session.updated"


def test_conversation_response_events_in_order(sdk, fake_upstream):
    with sdk.realtime.connect(model="gpt-realtime") as connection:
        created = connection.recv()
        assert created.type == "session.created"
        assert created.session.type == "realtime"
        conversation_update(connection)
        connection.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hi"}],
            }
        )
        added = connection.recv()
        assert added.type == "conversation.item.added"
        assert connection.recv().type == "conversation.item.done"
        connection.response.create()
        events = events_until(connection, "response.done")
    types = [e.type for e in events]
    expected = [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_audio_transcript.delta",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    firsts = sorted(expected, key=types.index)
    assert firsts == expected, types
    transcript = "".join(
        e.delta for e in events if e.type == "response.output_audio_transcript.delta"
    )
    assert transcript == fake_upstream.reply
    pcm = b"".join(
        base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta"
    )
    assert len(pcm) / 2 / 24_000 == pytest.approx(0.1 * len(fake_upstream.reply.split()), abs=0.01)
    done = events[-1].response
    assert done.status == "completed"
    assert done.output[0].content[0].transcript == fake_upstream.reply
    sent = fake_upstream.last
    assert sent["messages"][0] == {"role": "system", "content": "Answer briefly."}
    assert sent["messages"][1] == {"role": "user", "content": "Hi"}
    assert sent["model"] == "gpt-realtime"


def test_spoken_turn_starts_a_response_with_its_transcript(sdk, fake_upstream):
    with sdk.realtime.connect(model="gpt-realtime") as connection:
        connection.recv()
        conversation_update(
            connection,
            audio={
                "output": {"voice": "tone", "format": {"type": "audio/pcmu"}},
                "input": {
                    "turn_detection": {"type": "server_vad"},
                    "transcription": {"model": "whisper-1"},
                },
            },
        )
        for piece in chunks(SPEECH):
            connection.input_audio_buffer.append(audio=piece)
        events = events_until(connection, "response.done")
    types = [e.type for e in events]
    assert types.index("input_audio_buffer.committed") < types.index("response.created")
    assert types.index("conversation.item.input_audio_transcription.completed") < types.index(
        "response.output_item.added"
    ), "the LLM is asked once the turn is transcribed"
    assert fake_upstream.last["messages"][-1] == {"role": "user", "content": HEARD}
    ulaw = b"".join(
        base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta"
    )
    assert len(ulaw) / 8_000 == pytest.approx(0.1 * len(fake_upstream.reply.split()), abs=0.02)


def test_cancel_and_barge_in(sdk, fake_upstream):
    fake_upstream.word_delay = 0.3  # a slow LLM: about five seconds for the reply
    try:
        with sdk.realtime.connect(model="gpt-realtime") as connection:
            connection.recv()
            conversation_update(
                connection,
                audio={
                    "output": {"voice": "tone"},
                    "input": {"turn_detection": {"type": "server_vad", "create_response": False}},
                },
            )
            connection.conversation.item.create(
                item={
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Hi"}],
                }
            )
            connection.response.create()
            events_until(connection, "response.output_audio_transcript.delta")
            connection.response.cancel()
            cancelled = events_until(connection, "response.done")[-1].response
            assert cancelled.status == "cancelled"
            assert cancelled.status_details.reason == "client_cancelled"
            assert cancelled.output[0].status == "incomplete"

            connection.response.create()
            events_until(connection, "response.output_audio_transcript.delta")
            for piece in chunks(SPEECH[: 2 * 24_000 * 4]):  # the user talks over the answer
                connection.input_audio_buffer.append(audio=piece)
            events = events_until(connection, "response.done")
            assert "input_audio_buffer.speech_started" in [e.type for e in events]
            interrupted = events[-1].response
            assert interrupted.status == "cancelled"
            assert interrupted.status_details.reason == "turn_detected"
    finally:
        fake_upstream.word_delay = 0.02


def test_a_closed_socket_frees_everything(sdk, fake_upstream, request, monkeypatch):
    fake_upstream.word_delay = 0.5  # the LLM would go on for seconds
    runtime = request.node.app.state.runtime
    sessions: list[RealtimeSession] = []
    start = RealtimeSession.start

    def start_and_record(self: RealtimeSession) -> None:
        sessions.append(self)
        start(self)

    monkeypatch.setattr(RealtimeSession, "start", start_and_record)
    try:
        with sdk.realtime.connect(model="gpt-realtime") as connection:
            connection.recv()
            conversation_update(connection)
            connection.response.create()
            events_until(connection, "response.output_audio.delta")
            (session,) = sessions
            assert session.busy
        deadline = time.monotonic() + 2
        while runtime.state.get("websockets_open") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not runtime.state.get("websockets_open"), "the handler finished: its slot is free"
        assert not session.busy, "its response and transcriptions were cancelled"
    finally:
        fake_upstream.word_delay = 0.02


def test_no_upstream_is_an_error_event_not_a_refusal(plugins, monkeypatch):
    monkeypatch.delenv("CHAT_COMPLETION_BASE_URL", raising=False)
    from litestar.testing import TestClient

    app = build_test_app('[tts.tone]\nkind = "fake-tts"\n', [*plugins, voxgate_pyav])
    with (
        TestClient(app) as client,
        client.websocket_connect("/v1/realtime?model=gpt-realtime") as ws,
    ):
        assert ws.receive_json()["type"] == "session.created"
        error = ws.receive_json()
        assert error["type"] == "error"
        assert error["error"]["code"] == "upstream_not_configured"


def test_api_keys_and_the_browser_subprotocol(plugins):
    from litestar.testing import TestClient

    app = build_test_app("", plugins, environ={"VOXGATE_API_KEYS": "sk-good"})
    with TestClient(app) as client:
        with client.websocket_connect(
            "/v1/realtime?intent=transcription",
            subprotocols=["realtime", "openai-insecure-api-key.sk-good"],
        ) as ws:
            assert ws.accepted_subprotocol == "realtime"
            assert ws.receive_json()["type"] == "session.created"


def test_refused_without_a_key(plugins, fake_upstream):
    app = build_test_app("", plugins, environ={"VOXGATE_API_KEYS": "sk-good"})
    with served(app) as address:
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://{address}/v1/realtime?intent=transcription")
        assert refused.value.response.status_code == 401


def test_sessions_past_max_websockets_are_refused_with_503(plugins):
    app = build_test_app("[server]\nmax_websockets = 1\n", plugins)
    with served(app) as address:
        url = f"ws://{address}/v1/realtime?intent=transcription"
        live = f"ws://{address}/v1/audio/transcriptions-realtime"
        with connect(url) as first:
            assert json.loads(first.recv(timeout=10))["type"] == "session.created"
            for refused_url in (url, live):
                with pytest.raises(InvalidStatus) as refused:
                    connect(refused_url)
                response = refused.value.response
                assert response.status_code == 503
                assert json.loads(response.body)["error"]["code"] == "service_unavailable"
        deadline = time.monotonic() + 5  # the slot is free again once the first has closed
        while app.state.runtime.state.get("websockets_open") and time.monotonic() < deadline:
            time.sleep(0.02)
        with connect(url) as again:
            assert json.loads(again.recv(timeout=10))["type"] == "session.created"
