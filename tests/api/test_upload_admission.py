"""Uploads meet the engine queue and the decoded-audio budget before they are decoded.

Issue 16: a 429 for a full queue used to come after the whole upload was decoded. Now the
PyAV transcoder only probes the container before admission, the engine reads the audio as it
goes, and ``[server] max_decoded_audio_bytes`` bounds what all requests hold at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading

import httpx
import pytest
from audio_files import encode, silence
from servers import served

import voxgate_pyav
from voxgate.testing import build_test_app, fakes
from voxgate_pyav import decode

TOML = """
[server]
max_decoded_audio_bytes = {budget}

[transcoder]
kind = "pyav"

[stt.fake-stt]
kind = "fake-stt"
gate = "held"
concurrency = {concurrency}
max_queue = 0
window_seconds = {window}

[models]
"whisper-1" = "fake-stt"
"""
FORM = {"model": "whisper-1"}
CLIP = encode("flac", 3.0)


def toml(*, budget: int = 1 << 30, concurrency: int = 1, window: float = 0.0) -> str:
    return TOML.format(budget=budget, concurrency=concurrency, window=window)


@pytest.fixture
def decoded(monkeypatch):
    """How many batches of samples PyAV has produced (for any request)."""
    count = [0]
    push = decode._MonoResampler.push

    def counting(self, frame):
        out = push(self, frame)
        count[0] += len(out)
        return out

    monkeypatch.setattr(decode._MonoResampler, "push", counting)
    fakes.GATES["held"] = threading.Event()
    yield count
    fakes.GATES["held"].set()


@contextlib.asynccontextmanager
async def client(config: str):
    """The app in uvicorn on loopback: requests really run at the same time."""
    with served(build_test_app(config, [fakes, voxgate_pyav])) as address:
        async with httpx.AsyncClient(base_url=f"http://{address}", timeout=30) as http:
            yield http


async def post(http, data: bytes, **fields: str):
    return await http.post(
        "/v1/audio/transcriptions", data={**FORM, **fields}, files={"file": ("upload", data)}
    )


async def wait_for_engine() -> None:
    """Until the held request has decoded its upload and waits at the gate."""
    for _ in range(200):
        if fakes.FakeSttEngine.last_options is not None:
            return
        await asyncio.sleep(0.01)


async def test_a_full_queue_answers_429_without_decoding(decoded):
    long = silence("flac", "flac", 16_000, 600)
    async with client(toml()) as http:
        first = asyncio.create_task(post(http, CLIP))
        await wait_for_engine()
        before = decoded[0]
        refused = await post(http, long)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limit_exceeded"
        assert decoded[0] == before, "the refused upload was not decoded"
        fakes.GATES["held"].set()
        assert (await first).status_code == 200


async def test_decoded_audio_budget_is_503_with_retry_after(decoded):
    """Two engines' worth of slots, budget for one upload held whole: the second waits."""
    budget = 10 * 16_000 * 4  # ten seconds of float32 at 16 kHz
    async with client(toml(budget=budget, concurrency=2)) as http:
        first = asyncio.create_task(post(http, encode("flac", 8.0)))
        await wait_for_engine()
        before = decoded[0]
        busy = await post(http, CLIP)
        assert busy.status_code == 503
        error = busy.json()["error"]
        assert error["code"] == "decoded_audio_limit"
        assert "max_decoded_audio_bytes" in error["message"]
        assert int(busy.headers["retry-after"]) >= 1
        assert decoded[0] == before
        fakes.GATES["held"].set()
        assert (await first).status_code == 200
        again = await post(http, CLIP)
        assert again.status_code == 200, "the budget came back when the first finished"


async def test_more_than_the_whole_budget_is_400(decoded):
    fakes.GATES["held"].set()
    budget = 2 * 16_000 * 4
    async with client(toml(budget=budget)) as http:
        response = await post(http, CLIP)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "audio_too_long"
    assert decoded[0] == 0


async def test_an_engine_reading_windows_needs_only_two_windows_of_budget(decoded):
    """A 10-minute upload fits a budget of 2 x 30 s when the engine reads 30 s windows."""
    fakes.GATES["held"].set()
    budget = 60 * 16_000 * 4
    long = silence("flac", "flac", 16_000, 600)
    async with client(toml(budget=budget, window=30.0)) as http:
        response = await post(http, long, response_format="verbose_json")
    assert response.status_code == 200
    assert response.json()["duration"] == 600.0
    assert fakes.FakeSttEngine.largest_window <= 30 * 16_000


async def test_streamed_transcript_reports_the_decoded_duration(decoded):
    fakes.GATES["held"].set()
    long = silence("flac", "flac", 16_000, 95)
    async with client(toml(window=30.0)) as http:
        response = await post(http, long, stream="true")
    assert response.status_code == 200
    done = [line for line in response.text.splitlines() if "transcript.text.done" in line]
    assert '"audio_tokens":4750' in done[0]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_limit_found_while_decoding_is_a_400_or_an_sse_error(monkeypatch, stream):
    """When the container cannot tell the length, the decoder stops at the limit mid-file."""
    monkeypatch.setattr(decode, "probe_seconds", lambda *_, **__: None)
    limited = toml(window=10.0).replace('kind = "pyav"', 'kind = "pyav"\nmax_decoded_seconds = 60')
    fakes.GATES["held"] = threading.Event()
    fakes.GATES["held"].set()
    async with client(limited) as http:
        response = await post(
            http, silence("flac", "flac", 16_000, 120), stream=str(stream).lower()
        )
    if not stream:
        assert response.status_code == 400
        error = response.json()["error"]
    else:
        assert response.status_code == 200
        last = response.text.strip().splitlines()[-1]
        error = json.loads(last.removeprefix("data: "))["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "file"
    assert "longer than the 1 minute" in error["message"]
