"""WS /v1/realtime on the default config's real engines: Whisper hears, Piper answers.

The official SDK (``client.realtime.connect`` with ``websocket_base_url``) drives
``voxgate serve``; audio is the espeak-ng fixture streamed in 100 ms chunks; the LLM is the
fake upstream the default server reaches through CHAT_COMPLETION_BASE_URL.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import openai
import pytest
from clips import pcm16_wav, speech_24k
from wer import wer

pytestmark = pytest.mark.filterwarnings(
    r"ignore:connect\(\) must be used as a context manager:DeprecationWarning"
)

DATA = Path(__file__).resolve().parents[1] / "data"
ENGLISH = json.loads((DATA / "fixtures.json").read_text())["files"]["en-10s.wav"]["text"]
REPLY = "Hello there. The weather is sunny and warm today. Enjoy your walk in the park."


@pytest.fixture
def sdk(default_server):
    ws = default_server.base_url.replace("http://", "ws://")
    with openai.OpenAI(
        api_key="dummy",
        base_url=f"{default_server.base_url}/v1",
        websocket_base_url=f"{ws}/v1",
        max_retries=0,
        timeout=120,
    ) as client:
        yield client


def send_audio(connection, data: bytes, chunk: int = 4_800) -> None:
    for start in range(0, len(data), chunk):
        connection.input_audio_buffer.append(
            audio=base64.b64encode(data[start : start + chunk]).decode()
        )


def until(connection, last: str, timeout: float = 60) -> list:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(connection.recv())
        if seen[-1].type == last:
            return seen
    pytest.fail(f"no {last}: {[e.type for e in seen]}")


def test_transcription_session_hears_the_sentence(sdk):
    with sdk.realtime.connect(extra_query={"intent": "transcription"}) as connection:
        assert connection.recv().type == "session.created"
        connection.session.update(
            session={
                "type": "transcription",
                "audio": {
                    "input": {
                        "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 600},
                    }
                },
            }
        )
        assert connection.recv().type == "session.updated"
        send_audio(connection, speech_24k())
        events = until(connection, "conversation.item.input_audio_transcription.completed")
    completed = events[-1]
    assert wer(ENGLISH, completed.transcript) <= 0.15, completed.transcript
    deltas = "".join(
        e.delta for e in events if e.type == "conversation.item.input_audio_transcription.delta"
    )
    assert deltas.strip() == completed.transcript


def test_conversation_answers_a_spoken_question_out_loud(sdk, client, fake_upstream):
    with sdk.realtime.connect(model="gpt-realtime") as connection:
        assert connection.recv().type == "session.created"
        connection.session.update(
            session={
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "server_vad"}},
                    "output": {"voice": "alloy"},
                },
            }
        )
        assert connection.recv().type == "session.updated"
        send_audio(connection, speech_24k())
        events = until(connection, "response.done")
    assert events[-1].response.status == "completed"
    heard = fake_upstream.last["messages"][-1]
    assert heard["role"] == "user"
    assert wer(ENGLISH, heard["content"]) <= 0.15, heard
    pcm = b"".join(
        base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta"
    )
    said = client.audio.transcriptions.create(
        model="whisper-tiny.en", file=pcm16_wav(pcm), response_format="text"
    )
    assert wer(REPLY, said) <= 0.2, said
