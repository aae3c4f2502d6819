"""SIGTERM against a real ``voxgate serve``: refuse new work, finish what runs, end the rest.

The running request finishes; the queued one and every new one get 503 with ``Retry-After``
in the error envelope at once; ``/ready`` turns 503 at once while ``/health`` stays 200, and
the process exits when the work is done. Past ``shutdown_timeout``, what still runs ends with
the same error.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from typing import Any

import httpx
import pytest

from voxgate.testing.fakes import tone, wav_bytes

CONFIG = """
[server]
shutdown_timeout = {shutdown_timeout}

[stt.slow-stt]
kind = "fake-stt"
delay = 30.0

[tts.tone]
kind = "fake-tts"
delay = 0.1
concurrency = 1

[models]
"tts-1" = {{ tts = "tone" }}
"whisper-1" = {{ stt = "slow-stt" }}
"""
WORDS = 30  # 0.1 s of work and of audio each


def speech(base_url: str, results: dict[str, Any], key: str, text: str) -> None:
    body = {"model": "tts-1", "voice": "tone", "response_format": "pcm", "input": text}
    started = time.monotonic()
    try:
        response = httpx.post(f"{base_url}/v1/audio/speech", json=body, timeout=60)
        results[key] = (response, time.monotonic())
    except httpx.HTTPError as exc:
        results[key] = (exc, time.monotonic())
    results[key + "_started"] = started


def in_thread(target: Any, *args: Any) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def assert_shutting_down(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "10"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "server_shutting_down"


def test_sigterm_finishes_the_running_request_and_refuses_the_rest(serve):
    server = serve(CONFIG.format(shutdown_timeout=10.0))
    results: dict[str, Any] = {}
    text = " ".join(["word"] * (WORDS - 1)) + " end."
    running = in_thread(speech, server.base_url, results, "running", text)
    time.sleep(1.0)  # the running request holds the only slot
    queued = in_thread(speech, server.base_url, results, "queued", "Queued words.")
    time.sleep(0.5)
    server.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    time.sleep(0.3)

    ready = httpx.get(f"{server.base_url}/ready", timeout=5)
    assert ready.status_code == 503, "a load balancer learns at once that we are going"
    assert ready.json()["status"] == "draining"
    assert httpx.get(f"{server.base_url}/health", timeout=5).status_code == 200
    fresh = httpx.post(
        f"{server.base_url}/v1/audio/speech",
        json={"model": "tts-1", "voice": "tone", "input": "New."},
        timeout=5,
    )
    assert_shutting_down(fresh)

    queued.join(timeout=10)
    response, answered = results["queued"]
    assert isinstance(response, httpx.Response), response
    assert_shutting_down(response)
    assert answered - signalled < 2, "the queued request does not wait out the drain"

    running.join(timeout=20)
    response, _ = results["running"]
    assert isinstance(response, httpx.Response), response
    assert response.status_code == 200
    assert len(response.content) == WORDS * 2400 * 2, "the running request got all its audio"
    server.process.wait(timeout=10)
    assert "Exception in ASGI application" not in server.log


def test_what_still_runs_at_the_deadline_ends_with_a_clean_error(serve):
    server = serve(CONFIG.format(shutdown_timeout=1.0))
    results: dict[str, Any] = {}

    def transcribe() -> None:
        response = httpx.post(
            f"{server.base_url}/v1/audio/transcriptions",
            files={"file": ("a.wav", wav_bytes(tone(1.0)), "audio/wav")},
            data={"model": "whisper-1"},
            timeout=60,
        )
        results["transcription"] = response

    def speak_sse() -> None:
        body = {
            "model": "tts-1",
            "voice": "tone",
            "input": "Hello. " + " ".join(["word"] * 200) + ".",
            "stream_format": "sse",
        }
        with httpx.stream(
            "POST", f"{server.base_url}/v1/audio/speech", json=body, timeout=60
        ) as response:
            results["sse_status"] = response.status_code
            results["sse"] = [line for line in response.iter_lines() if line.startswith("data:")]

    threads = [in_thread(transcribe), in_thread(speak_sse)]
    time.sleep(1.5)
    server.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    for thread in threads:
        thread.join(timeout=15)
    ended = time.monotonic() - signalled
    assert ended < 5, f"the requests ended {ended:.1f} s after SIGTERM"

    transcription = results["transcription"]
    assert transcription.status_code == 503, transcription.text
    assert transcription.json()["error"]["code"] == "server_shutting_down"
    assert results["sse_status"] == 200
    last = json.loads(results["sse"][-1].removeprefix("data:"))
    assert last["error"]["code"] == "server_shutting_down", "the stream ends with an error event"
    assert server.process.wait(timeout=10) is not None


def test_websocket_sessions_are_refused_then_closed_for_a_restart(serve):
    """New handshakes get 503 at once; open sessions end with 1012 once HTTP work drained."""
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    server = serve(CONFIG.format(shutdown_timeout=10.0))
    ws_url = server.base_url.replace("http://", "ws://")
    results: dict[str, Any] = {}
    with connect(f"{ws_url}/v1/realtime?intent=transcription") as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "session.created"
        text = " ".join(["word"] * (WORDS - 1)) + " end."
        running = in_thread(speech, server.base_url, results, "running", text)
        time.sleep(1.0)  # three seconds of work: the drain waits for it
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{ws_url}/v1/audio/transcriptions-realtime")
        assert refused.value.response.status_code == 503
        assert refused.value.response.headers["Retry-After"] == "10"
        error = json.loads(refused.value.response.body)["error"]
        assert error["code"] == "server_shutting_down"
        with pytest.raises(ConnectionClosed) as closed:  # noqa: PT012 - read until closed
            while True:
                socket.recv(timeout=15)
        assert closed.value.rcvd is not None, server.log
        assert closed.value.rcvd.code == 1012
    running.join(timeout=20)
    response, _ = results["running"]
    assert isinstance(response, httpx.Response), response
    assert response.status_code == 200, "the HTTP request still finished"
    server.process.wait(timeout=10)
