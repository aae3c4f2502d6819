"""A client that leaves stops its engine work: within a step, not at the end of the request.

Served on a real socket (the in-process client cannot hang up mid-request); the fake engines
run in this process, so their counters show when the work stopped.
"""

from __future__ import annotations

import time

import httpx
import pytest
from servers import served

from voxgate.testing import build_test_app
from voxgate.testing.fakes import FakeSttEngine, FakeTtsEngine, tone, wav_bytes

TOML = """
[transcoder]
kind = "wav"

[stt.slow-stt]
kind = "fake-stt"
delay = 0.25

[tts.slow-tts]
kind = "fake-tts"
delay = 0.05

[models]
"whisper-1" = "slow-stt"
"tts-1" = { tts = "slow-tts" }
"""
STEP = 0.25  # the slowest step of the engines above


def wait_for(condition, timeout: float) -> float:
    """Seconds until ``condition()`` holds; fails past ``timeout``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "the engine kept running"
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_non_streamed_transcription_stops_when_the_client_leaves(plugins):
    app = build_test_app(TOML, plugins)
    upload = wav_bytes(tone(20.0))  # 20 segments of 0.25 s work: 5 s in all
    with served(app) as address:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"http://{address}/v1/audio/transcriptions",
                files={"file": ("a.wav", upload, "audio/wav")},
                data={"model": "whisper-1"},
                timeout=httpx.Timeout(30, read=1.0),
            )  # the client gives up after a second and closes the connection
        stopped = wait_for(lambda: FakeSttEngine.closed == 1, timeout=4)
    assert stopped < 2 * STEP + 0.5, f"the engine ran {stopped:.2f} s after the client left"
    assert FakeSttEngine.steps < 10


def test_a_speech_stream_stops_mid_piece_when_the_client_leaves(plugins):
    app = build_test_app(TOML, plugins)
    # the first piece is one sentence; the second, 80 words of 0.05 s work, is 4 s in one piece
    text = "Hello there. " + " ".join(["word"] * 79) + " end."
    body = {"model": "tts-1", "voice": "tone", "input": text, "response_format": "pcm"}
    with served(app) as address:
        with httpx.stream(
            "POST", f"http://{address}/v1/audio/speech", json=body, timeout=30
        ) as response:
            assert response.status_code == 200
            next(response.iter_bytes())  # the first piece is here; the second is being made
            time.sleep(0.5)
        steps_at_leaving = FakeTtsEngine.steps
        stopped = wait_for(lambda: FakeTtsEngine.closed >= 2, timeout=6)
    assert stopped < 0.5, f"the engine ran {stopped:.2f} s after the client left"
    assert FakeTtsEngine.steps - steps_at_leaving < 10
    assert FakeTtsEngine.steps < 40, "the second piece (82 words) was not finished"
