"""Clients that stop reading, against a real ``voxgate serve``: the engine is freed anyway.

A client that keeps its socket open but never reads would otherwise hold the engine's slot for
as long as the socket lives: the response waits for the socket to drain, forever.
"""

from __future__ import annotations

import socket
import time

import httpx
import pytest

CONFIG = """
[server]
send_timeout = {send_timeout}

[tts.tone]
kind = "fake-tts"
seconds_per_word = 1.0
concurrency = 1

[models]
"tts-1" = {{ tts = "tone" }}
"""
# Four pieces (sentences.pieces): the next is held ready while one is sent, so the engine
# stream stays open; each later piece is 80 words of a second, 3.8 MB of 24 kHz pcm16, far
# more than the socket buffers take.
LONG_INPUT = "Hello there. " + " ".join(["word"] * 79 + ["end."]) * 3


def stalled_speech_request(base_url: str, body: bytes) -> socket.socket:
    """Send a speech request on a socket with a tiny receive buffer, and never read it."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    head = (
        f"POST /v1/audio/speech HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


@pytest.mark.parametrize("stream_format", ["audio", "sse"])
def test_a_client_that_never_reads_frees_the_engine(serve, stream_format):
    server = serve(CONFIG.format(send_timeout=2.0))
    body = (
        '{"model": "tts-1", "voice": "tone", "response_format": "pcm", '
        f'"stream_format": "{stream_format}", "input": "{LONG_INPUT}"}}'
    ).encode()
    stalled = stalled_speech_request(server.base_url, body)
    try:
        time.sleep(1.0)  # the stalled response has taken the only slot and filled the buffers
        started = time.monotonic()
        second = httpx.post(
            f"{server.base_url}/v1/audio/speech",
            json={"model": "tts-1", "voice": "tone", "input": "Hi.", "response_format": "pcm"},
            timeout=30,
        )
        waited = time.monotonic() - started
        assert second.status_code == 200, second.text
        assert second.content, "the second request got its audio"
        assert waited < 10, f"the second request waited {waited:.1f} s for the engine"
        metrics = httpx.get(f"{server.base_url}/metrics").text
        assert 'voxgate_engine_busy{instance="tone"} 0.0' in metrics, "the slot is free"
    finally:
        stalled.close()
    assert "client stopped reading" in server.log
