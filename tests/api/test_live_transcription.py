"""``WS /v1/audio/transcriptions-realtime``: a15t's live transcription, in process.

The fake STT engine answers scripted text (one segment per second of audio), but voice
activity is the real Silero, so the audio is real speech: tests/data/en-10s.wav (espeak, 16 kHz),
whose sentences span 0.25-3.9 s, 4.34-6.84 s and 7.16-9.75 s. Every stream starts with 1 s of
silence, so speech in the file at t s is at 1000 + 1000 t ms on the session clock.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from tests.conftest import FAKE_TOML
from voxgate.engines.audio import PcmAudio
from voxgate.services.realtime import live
from voxgate.services.realtime.audio import encode
from voxgate.services.realtime.live import TASK_PREFIX
from voxgate.testing import build_test_app, fakes

PATH = "/v1/audio/transcriptions-realtime"
RATE = 16_000
FAKE_TEXT = "Hello from the fake engine."
KEYS = {"VOXGATE_API_KEYS": "sk-one"}

with wave.open(str(Path(__file__).parents[1] / "data" / "en-10s.wav")) as _wav:
    SPEECH = (
        np.frombuffer(_wav.readframes(_wav.getnframes()), dtype="<i2").astype(np.float32) / 32768
    )


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), dtype=np.float32)


def speech(start: float = 0.0, end: float | None = None) -> np.ndarray:
    return SPEECH[round(start * RATE) : None if end is None else round(end * RATE)]


def s16(samples: np.ndarray) -> bytes:
    return PcmAudio(samples, RATE).to_pcm16()


def client(plugins, toml: str = FAKE_TOML, env: dict[str, str] | None = None) -> TestClient:
    return TestClient(app=build_test_app(toml, plugins, environ=env or {}))


def send_audio(socket, data: bytes, frame: int = 3_200, pace: float = 0.0) -> None:
    for index in range(0, len(data), frame):
        socket.send_bytes(data[index : index + frame])
        if pace:
            time.sleep(pace)


def until_close(socket, timeout: float = 20) -> tuple[list[dict[str, Any]], int]:
    messages = []
    while True:
        try:
            messages.append(socket.receive_json(timeout=timeout))
        except WebSocketDisconnect as exc:
            return messages, exc.code


def finals(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["message_type"] == "FinalTranscript"]


def check_transcript(message: dict[str, Any]) -> None:
    """Shape and invariants every transcript message has."""
    assert list(message) == [
        "message_type",
        "text",
        "audio_start",
        "audio_end",
        "confidence",
        "words",
        "created",
    ]
    assert message["text"].startswith(FAKE_TEXT)
    assert 0 <= message["audio_start"] < message["audio_end"]
    assert 0.0 <= message["confidence"] <= 1.0
    previous = message["audio_start"]
    for word in message["words"]:
        assert list(word) == ["start", "end", "confidence", "text"]
        assert previous <= word["start"] <= word["end"] <= message["audio_end"]
        previous = word["start"]
    assert " ".join(w["text"] for w in message["words"]) == message["text"]
    created = datetime.fromisoformat(message["created"])
    assert created.tzinfo is not None
    assert created.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)


# -- transcripts -------------------------------------------------------------------------------


def test_partials_then_one_final_for_an_utterance(plugins):
    with client(plugins) as http, http.websocket_connect(PATH + "?model=whisper-1") as socket:
        socket.send_text(json.dumps({"sample_rate": RATE}))
        # 3 s of speech at about ten times real time: the cadence has time to ask for partials
        send_audio(socket, s16(np.concatenate([silence(1), speech(0, 3)])), pace=0.01)
        first = socket.receive_json(timeout=10)
        assert first["message_type"] == "PartialTranscript"
        send_audio(socket, s16(np.concatenate([speech(3), silence(1)])))
        socket.send_text(json.dumps({"done": True}))
        messages, code = until_close(socket)
    messages.insert(0, first)
    assert code == 1000
    kinds = [m["message_type"] for m in messages]
    assert kinds[-1] == "FinalTranscript"
    assert set(kinds[:-1]) == {"PartialTranscript"}
    final = messages[-1]
    for message in messages:
        check_transcript(message)
        assert message["audio_start"] == final["audio_start"]
        assert message["audio_end"] <= final["audio_end"]
    ends = [m["audio_end"] for m in messages]
    assert ends == sorted(ends)
    assert 1_150 <= final["audio_start"] <= 1_400
    assert 10_550 <= final["audio_end"] <= 10_950
    assert final["confidence"] == 1.0  # the fake engine's words are certain
    # 9.5 s of speech, 300 ms of padding and a 160 ms tail: nine one-second fake segments
    assert final["text"] in {" ".join([FAKE_TEXT] * n) for n in (9, 10)}


def test_two_utterances_two_finals_in_order(plugins):
    audio = [silence(1), speech(0, 4.1), silence(1.5), speech(4.1), silence(1)]
    with client(plugins) as http, http.websocket_connect(PATH) as socket:
        socket.send_text(json.dumps({"sample_rate": RATE}))
        send_audio(socket, s16(np.concatenate(audio)), pace=0.002)
        socket.send_text(json.dumps({"done": True}))
        messages, code = until_close(socket)
    assert code == 1000
    first, second = finals(messages)
    assert 1_150 <= first["audio_start"] <= 1_400
    assert 4_750 <= first["audio_end"] <= 5_150  # 1 s + the first sentence, ends at 3.9 s
    assert 6_700 <= second["audio_start"] <= 6_950  # 1 + 4.1 + 1.5 + (4.34 - 4.1) s
    assert 12_050 <= second["audio_end"] <= 12_450  # ... + (9.75 - 4.1) s
    # every partial belongs to the utterance under way and comes before its final
    split = messages.index(first)
    for message in messages[:split]:
        check_transcript(message)
        assert message["audio_start"] == first["audio_start"]
    for message in messages[split + 1 :]:
        check_transcript(message)
        assert message["audio_start"] == second["audio_start"]
    assert messages[-1] is second


def test_done_flushes_speech_that_never_paused(plugins):
    """The stream stops mid-sentence: its final still comes before the close."""
    with client(plugins) as http, http.websocket_connect(PATH) as socket:
        socket.send_text(json.dumps({"sample_rate": RATE, "partial_interval_ms": 0}))
        send_audio(socket, s16(np.concatenate([silence(1), speech(0, 3)])))
        socket.send_text(json.dumps({"done": True}))
        messages, code = until_close(socket)
    assert code == 1000
    assert [m["message_type"] for m in messages] == ["FinalTranscript"]
    check_transcript(messages[0])
    assert 1_150 <= messages[0]["audio_start"] <= 1_400
    assert 3_800 <= messages[0]["audio_end"] <= 4_000  # where the audio ends


def test_segments_without_a_leading_space_are_joined_with_one(plugins):
    bare = FAKE_TOML.replace(
        'kind = "fake-stt"',
        'kind = "fake-stt"\ntexts = ["Hello.", "World."]\nleading_space = false',
    )
    with client(plugins, bare) as http, http.websocket_connect(PATH) as socket:
        socket.send_text(json.dumps({"sample_rate": RATE, "partial_interval_ms": 0}))
        send_audio(socket, s16(np.concatenate([silence(1), speech(0, 3)])))
        socket.send_text(json.dumps({"done": True}))
        messages, code = until_close(socket)
    assert code == 1000
    (final,) = finals(messages)
    assert final["text"].startswith("Hello. World.")
    assert "Hello.World." not in final["text"]
    assert "  " not in final["text"]


def test_done_without_audio_closes_at_once(plugins):
    with client(plugins) as http, http.websocket_connect(PATH) as socket:
        socket.send_text(json.dumps({"sample_rate": RATE}))
        socket.send_text(json.dumps({"done": True}))
        assert until_close(socket) == ([], 1000)


def _ulaw(samples: np.ndarray) -> bytes:
    return encode("g711_ulaw", PcmAudio(samples, RATE))


def _alaw(samples: np.ndarray) -> bytes:
    return encode("g711_alaw", PcmAudio(samples, RATE))


def _f32(samples: np.ndarray) -> bytes:
    return samples.astype("<f4").tobytes()


def _s16_44k(samples: np.ndarray) -> bytes:
    return PcmAudio(samples, RATE).resample(44_100).to_pcm16()


@pytest.mark.parametrize(
    ("encoding", "rate", "wire"),
    [
        ("pcm_mulaw", 8_000, _ulaw),
        ("pcm_alaw", 8_000, _alaw),
        ("pcm_f32le", 16_000, _f32),
        ("pcm_s16le", 44_100, _s16_44k),
    ],
)
def test_every_encoding_decodes(plugins, encoding, rate, wire):
    data = wire(np.concatenate([silence(1), speech(0, 4.1), silence(1)]))
    with client(plugins) as http, http.websocket_connect(PATH) as socket:
        socket.send_text(json.dumps({"sample_rate": rate, "encoding": encoding}))
        send_audio(socket, data, frame=999)  # odd frames: samples split across frames
        socket.send_text(json.dumps({"done": True}))
        messages, code = until_close(socket)
    assert code == 1000
    [final] = finals(messages)
    check_transcript(final)
    assert 1_150 <= final["audio_start"] <= 1_400
    assert 4_750 <= final["audio_end"] <= 5_150


def test_settings_from_the_query(plugins):
    """A 300 ms silence splits the file at its sentences; no partials when the interval is 0."""
    query = "?model=Systran/faster-whisper-tiny.en&silence_duration_ms=300&partial_interval_ms=0"
    with client(plugins) as http, http.websocket_connect(PATH + query) as socket:
        socket.send_text(json.dumps({"sample_rate": RATE}))
        send_audio(socket, s16(np.concatenate([silence(1), speech(), silence(1)])))
        socket.send_text(json.dumps({"done": True}))
        messages, code = until_close(socket)
    assert code == 1000
    assert [m["message_type"] for m in messages] == ["FinalTranscript"] * 3
    starts = [m["audio_start"] for m in messages]
    ends = [m["audio_end"] for m in messages]
    assert starts == sorted(starts)
    assert all(end <= start for end, start in zip(ends, starts[1:], strict=False))


def test_long_utterances_are_cut(plugins):
    """9.5 s of speech with max_utterance_ms=4000: finals of at most 4 s, back to back."""
    config = {"sample_rate": RATE, "max_utterance_ms": 4_000, "partial_interval_ms": 0}
    with client(plugins) as http, http.websocket_connect(PATH) as socket:
        socket.send_text(json.dumps(config))
        send_audio(socket, s16(np.concatenate([silence(1), speech(), silence(1)])))
        socket.send_text(json.dumps({"done": True}))
        messages, code = until_close(socket)
    assert code == 1000
    assert len(messages) >= 3
    assert {m["message_type"] for m in messages} == {"FinalTranscript"}
    for message in messages:
        check_transcript(message)
        assert message["audio_end"] - message["audio_start"] <= 4_000
    for earlier, later in itertools.pairwise(messages):
        assert earlier["audio_end"] <= later["audio_start"]


def test_text_frames_mid_session_are_errors_that_keep_the_socket_open(plugins):
    with client(plugins) as http, http.websocket_connect(PATH) as socket:
        socket.send_text(json.dumps({"sample_rate": RATE, "partial_interval_ms": 0}))
        socket.send_text("{nope")
        assert socket.receive_json(timeout=10)["error"]["code"] == "invalid_json"
        socket.send_text(json.dumps({"hello": 1}))
        error = socket.receive_json(timeout=10)
        assert error["message_type"] == "Error"
        assert error["error"]["code"] == "unexpected_message"
        socket.send_text(json.dumps({"sample_rate": 8_000}))
        assert "cannot change" in socket.receive_json(timeout=10)["error"]["message"]
        send_audio(socket, s16(np.concatenate([silence(1), speech(0, 3.95), silence(1)])))
        socket.send_text(json.dumps({"done": True}))
        send_audio(socket, s16(speech()))  # after done: ignored
        socket.send_text("ignored too")
        messages, code = until_close(socket)
    assert code == 1000
    assert [m["message_type"] for m in messages] == ["FinalTranscript"]


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "first", "expected"),
    [
        ("", b"\x00\x01" * 800, ("config_required", None, 1003)),
        ("", "{not json", ("invalid_json", None, 1008)),
        ("", "[16000]", ("invalid_config", None, 1008)),
        ("", {"sample_rate": RATE, "encoding": "opus"}, ("unsupported_encoding", "encoding", 1003)),
        ("?encoding=flac", {"sample_rate": RATE}, ("unsupported_encoding", "encoding", 1003)),
        ("", {"sample_rate": 4_000}, ("invalid_config", "sample_rate", 1008)),
        ("", {"sample_rate": 96_000}, ("invalid_config", "sample_rate", 1008)),
        ("", {"encoding": "pcm_s16le"}, ("invalid_config", "sample_rate", 1008)),
        ("", {"sample_rate": RATE, "sampel_rate": 1}, ("invalid_config", "sampel_rate", 1008)),
        ("", {"sample_rate": RATE, "threshold": 2}, ("invalid_config", "threshold", 1008)),
        ("?model=nope", {"sample_rate": RATE}, ("model_not_found", "model", 1008)),
        ("", {"sample_rate": RATE, "model": "tts-1"}, ("model_not_found", "model", 1008)),
        ("", {"sample_rate": RATE, "language": "klingon"}, (None, "language", 1008)),
    ],
    ids=[
        "binary-first",
        "bad-json",
        "not-an-object",
        "unknown-encoding",
        "unknown-encoding-in-query",
        "rate-too-low",
        "rate-too-high",
        "no-rate",
        "unknown-field",
        "bad-threshold",
        "unknown-model",
        "not-an-stt-model",
        "unknown-language",
    ],
)
def test_a_bad_start_is_an_error_then_the_close(plugins, query, first, expected):
    code, param, close = expected
    with client(plugins) as http, http.websocket_connect(PATH + query) as socket:
        if isinstance(first, bytes):
            socket.send_bytes(first)
        else:
            socket.send_text(first if isinstance(first, str) else json.dumps(first))
        messages, close_code = until_close(socket)
    assert close_code == close
    [message] = messages
    assert message["message_type"] == "Error"
    error = message["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["code"] == code
    assert error["param"] == param
    assert error["message"]


def test_no_configuration_in_time_is_refused(plugins, monkeypatch):
    monkeypatch.setattr(live, "CONFIG_TIMEOUT_S", 0.2)
    with client(plugins) as http, http.websocket_connect(PATH) as socket:
        [message], code = until_close(socket)
    assert code == 1008
    assert message["error"]["code"] == "config_timeout"


def test_an_engine_that_fails_to_load_is_a_server_error(plugins):
    toml = FAKE_TOML.replace('kind = "fake-stt"', 'kind = "fake-stt"\nfail_load = true', 1)
    with client(plugins, toml) as http, http.websocket_connect(PATH) as socket:
        socket.send_text(json.dumps({"sample_rate": RATE}))
        [message], code = until_close(socket)
    assert code == 1011
    assert message["error"]["type"] == "server_error"


def test_an_api_key_is_required_when_keys_are_configured(plugins):
    with client(plugins, env=KEYS) as http:
        with pytest.raises(WebSocketDisconnect) as info:
            with http.websocket_connect(PATH) as socket:
                socket.receive_text()
        assert info.value.code == 1008
        with http.websocket_connect(PATH + "?api_key=sk-one") as socket:
            socket.send_text(json.dumps({"sample_rate": RATE}))
            socket.send_text(json.dumps({"done": True}))
            assert until_close(socket) == ([], 1000)


# -- a busy engine -----------------------------------------------------------------------------

BUSY_TOML = FAKE_TOML.replace(
    'kind = "fake-stt"', 'kind = "fake-stt"\ngate = "live"\nmax_queue = 0', 1
)


def _hold_the_engine_with_a_partial(http: TestClient, socket) -> None:
    """Speech until a partial holds the engine's one slot (at the gate), then the silence
    that makes the final due: with ``max_queue = 0`` the engine answers it 429."""
    instance = http.app.state.runtime.pool.stt["fake-stt"]
    socket.send_text(json.dumps({"sample_rate": RATE}))
    send_audio(socket, s16(np.concatenate([silence(1), speech(0, 3)])), pace=0.01)
    deadline = time.monotonic() + 10
    while instance.active == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert instance.active == 1
    send_audio(socket, s16(silence(1)))


def test_a_final_waits_out_a_full_engine_queue(plugins):
    with client(plugins, BUSY_TOML) as http, http.websocket_connect(PATH) as socket:
        _hold_the_engine_with_a_partial(http, socket)
        time.sleep(0.3)  # the final is refused at least once meanwhile
        fakes.GATES.setdefault("live", threading.Event()).set()
        socket.send_text(json.dumps({"done": True}))
        messages, code = until_close(socket)
    assert code == 1000
    kinds = [m["message_type"] for m in messages]
    assert kinds == ["PartialTranscript", "FinalTranscript"]  # the stale partial, then final


def test_a_final_that_never_gets_the_engine_ends_the_session(plugins, monkeypatch):
    monkeypatch.setattr(live, "FINAL_RETRY_S", 0.2)
    with client(plugins, BUSY_TOML) as http:
        with http.websocket_connect(PATH) as socket:
            _hold_the_engine_with_a_partial(http, socket)
            messages, code = until_close(socket)
        fakes.GATES.setdefault("live", threading.Event()).set()
    assert code == 1013
    [error] = messages
    assert error["error"]["code"] == "rate_limit_exceeded"


# -- leaving -----------------------------------------------------------------------------------


def test_a_client_leaving_mid_session_cancels_everything(plugins):
    """Engine work in flight and queued is dropped, its slot freed, no session task left."""
    toml = FAKE_TOML.replace('kind = "fake-stt"', 'kind = "fake-stt"\ngate = "live"', 1)
    http = client(plugins, toml)
    with http:
        instance = http.app.state.runtime.pool.stt["fake-stt"]
        with http.websocket_connect(PATH) as socket:
            socket.send_text(json.dumps({"sample_rate": RATE}))
            send_audio(socket, s16(np.concatenate([silence(1), speech(0, 3.95), silence(1)])))
            # the engine's generator has started and waits at its gate (the engine creates the
            # gate when it gets there): closing it now runs its `finally`, which counts `closed`
            deadline = time.monotonic() + 10
            while "live" not in fakes.GATES and time.monotonic() < deadline:
                time.sleep(0.01)
            assert instance.active == 1  # a transcription holds the engine, at the gate
        # the socket is closed: the session notices, cancels, and its tasks end
        deadline = time.monotonic() + 10
        while _live_tasks(http) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _live_tasks(http) == []
        assert instance.waiting == 0
        # the engine step in flight finishes, then the slot is freed (the engine thread may not
        # have reached its gate yet: setdefault makes whichever side comes first create it)
        fakes.GATES.setdefault("live", threading.Event()).set()
        deadline = time.monotonic() + 10
        while instance.active and time.monotonic() < deadline:
            time.sleep(0.01)
        assert instance.active == 0
        assert fakes.FakeSttEngine.closed >= 1


def _live_tasks(http: TestClient) -> list[str]:
    async def names() -> list[str]:
        import asyncio

        return [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith(TASK_PREFIX)]

    return http.blocking_portal.call(names)
