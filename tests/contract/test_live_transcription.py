"""Live transcription against ``voxgate serve`` with the default config, over a raw WebSocket.

The client is the ``websockets`` library, as any a15t client would be; the engine is the
default Whisper base behind ``whisper-1``. Audio is tests/data/en-10s.wav (speech from 0.25 to
9.75 s), after 1 s of silence, in frames of 100 ms.
"""

from __future__ import annotations

import json
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import ClientConnection, connect
from wer import wer

from voxgate.engines.audio import PcmAudio
from voxgate.services.realtime.audio import encode

DATA = Path(__file__).resolve().parents[1] / "data"
ENGLISH = json.loads((DATA / "fixtures.json").read_text())["files"]["en-10s.wav"]["text"]
RATE = 16_000
FRAME_S = 0.1

with wave.open(str(DATA / "en-10s.wav")) as _wav:
    SPEECH = (
        np.frombuffer(_wav.readframes(_wav.getnframes()), dtype="<i2").astype(np.float32) / 32768
    )


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), dtype=np.float32)


@pytest.fixture
def url(default_server) -> str:
    return default_server.base_url.replace("http://", "ws://") + "/v1/audio/transcriptions-realtime"


def stream(socket: ClientConnection, data: bytes, frame: int, *, paced: bool = False) -> None:
    """Frames of ``frame`` bytes (100 ms); in real time when ``paced``."""
    started = time.monotonic()
    for number, index in enumerate(range(0, len(data), frame)):
        if paced:
            time.sleep(max(0.0, started + number * FRAME_S - time.monotonic()))
        socket.send(data[index : index + frame])


def until_close(socket: ClientConnection) -> list[dict[str, Any]]:
    """Every message; the close must be a normal one (iteration raises otherwise)."""
    return [json.loads(message) for message in socket]


def check_words(final: dict[str, Any]) -> None:
    previous = final["audio_start"]
    for word in final["words"]:
        assert previous <= word["start"] <= word["end"] <= final["audio_end"]
        assert 0.0 <= word["confidence"] <= 1.0
        previous = word["start"]
    assert len(final["words"]) >= len(final["text"].split()) - 1


def test_a_streamed_recording_is_transcribed_with_its_timings(url):
    audio = PcmAudio(np.concatenate([silence(1), SPEECH, silence(1.5)]), RATE).to_pcm16()
    with connect(url + "?model=whisper-1", open_timeout=30) as socket:
        socket.send(json.dumps({"sample_rate": RATE, "partial_interval_ms": 0}))
        stream(socket, audio, frame=2 * RATE // 10)
        socket.send(json.dumps({"done": True}))
        messages = until_close(socket)
    finals = [m for m in messages if m["message_type"] == "FinalTranscript"]
    assert finals
    assert finals == messages  # no partials asked for
    text = " ".join(final["text"] for final in finals)
    assert wer(ENGLISH, text) <= 0.15, text
    assert 1_000 <= finals[0]["audio_start"] <= 1_450  # speech starts at 1.25 s
    assert 10_450 <= finals[-1]["audio_end"] <= 11_000  # and ends at 10.75 s
    for final in finals:
        check_words(final)
        assert 0.5 <= final["confidence"] <= 1.0
    starts = [word["start"] for final in finals for word in final["words"]]
    assert starts == sorted(starts)


def test_partials_come_while_someone_speaks(url):
    """4.6 s paced in real time: the utterance so far is transcribed before it ends."""
    paced = PcmAudio(np.concatenate([silence(0.5), SPEECH[: round(4.1 * RATE)]]), RATE)
    with connect(url, open_timeout=30) as socket:
        socket.send(json.dumps({"sample_rate": RATE}))
        stream(socket, paced.to_pcm16(), frame=2 * RATE // 10, paced=True)
        stream(socket, PcmAudio(silence(1), RATE).to_pcm16(), frame=2 * RATE // 10)
        socket.send(json.dumps({"done": True}))
        messages = until_close(socket)
    kinds = [m["message_type"] for m in messages]
    assert kinds[-1] == "FinalTranscript"
    assert kinds.count("FinalTranscript") == 1
    assert "PartialTranscript" in kinds
    final = messages[-1]
    for partial in messages[:-1]:
        assert partial["audio_start"] == final["audio_start"]
        assert partial["text"]
        assert partial["audio_end"] <= final["audio_end"]
    first_sentence = ENGLISH.split(". ")[0]
    assert wer(first_sentence, final["text"]) <= 0.15, final["text"]
    check_words(final)


def test_telephone_audio_in_mulaw(url):
    """8 kHz G.711 μ-law, the telephone format: resampled to 16 kHz on the way in."""
    audio = PcmAudio(np.concatenate([silence(1), SPEECH, silence(1.5)]), RATE)
    with connect(url, open_timeout=30) as socket:
        config = {"sample_rate": 8_000, "encoding": "pcm_mulaw", "partial_interval_ms": 0}
        socket.send(json.dumps(config))
        stream(socket, encode("g711_ulaw", audio), frame=800)
        socket.send(json.dumps({"done": True}))
        messages = until_close(socket)
    text = " ".join(m["text"] for m in messages)
    assert wer(ENGLISH, text) <= 0.2, text


def test_an_unknown_model_is_refused_before_any_audio(url):
    with connect(url + "?model=no-such-model", open_timeout=30) as socket:
        socket.send(json.dumps({"sample_rate": RATE}))
        error = json.loads(socket.recv(timeout=30))
        with pytest.raises(ConnectionClosedError) as info:
            socket.recv(timeout=30)
    assert error["message_type"] == "Error"
    assert error["error"]["code"] == "model_not_found"
    assert error["error"]["param"] == "model"
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1008
