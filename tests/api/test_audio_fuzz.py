"""The audio fuzz corpus: broken and hostile uploads in every container PyAV writes here.

For each container: a good file, truncations, flipped bytes, nothing at all, the header
alone, headers that lie about the length, and tiny files that decode to more audio than the
server accepts. Every one is posted to ``/v1/audio/transcriptions`` and must get 200 (it
really decodes) or a 4xx OpenAI envelope: never a 5xx, never a hang. The engine reads in
2.5 s windows, so the lazy decoding path (a failure found mid-file) is exercised too.
"""

from __future__ import annotations

import json
import struct
import time

import numpy as np
import pytest
from audio_files import CONTAINERS, encode, silence

import voxgate_pyav
from voxgate.testing import app_client, fakes

LIMIT_SECONDS = 60  # [transcoder] max_decoded_seconds here, so bombs can be small
TOML = f"""
[transcoder]
kind = "pyav"
max_decoded_seconds = {LIMIT_SECONDS}

[stt.fake-stt]
kind = "fake-stt"
segment_seconds = 2.0
window_seconds = 2.5

[models]
"whisper-1" = "fake-stt"
"""
SECONDS_PER_REQUEST = 10.0  # generous on a shared 2-core machine; a hang is far beyond it
ENVELOPE_KEYS = {"message", "type", "param", "code"}


def flipped(data: bytes, fraction: float, seed: int) -> bytes:
    """``data`` with ``fraction`` of its bytes (past the first 16) replaced at random."""
    rng = np.random.default_rng(seed)
    damaged = bytearray(data)
    for _ in range(max(1, int(len(data) * fraction))):
        damaged[int(rng.integers(min(16, len(data) - 1), len(data)))] = int(rng.integers(256))
    return bytes(damaged)


def corpus(name: str) -> dict[str, bytes]:
    """Every variant of one container's file, by a name that says what it is."""
    good = encode(name, 6.0)
    return {
        "good": good,
        "zero-length": b"",
        "one-byte": good[:1],
        "header-only": good[:64],
        "truncated-10%": good[: len(good) // 10],
        "truncated-half": good[: len(good) // 2],
        "truncated-last-byte": good[:-1],
        "flipped-0.1%": flipped(good, 0.001, 1),
        "flipped-1%": flipped(good, 0.01, 2),
        "flipped-10%": flipped(good, 0.1, 3),
        "random-tail": good[:200] + np.random.default_rng(4).bytes(4000),
        "bomb": encode(name, LIMIT_SECONDS * 1.5, frequency=0),
    }


@pytest.fixture(scope="module")
def files() -> dict[str, dict[str, bytes]]:
    return {name: corpus(name) for name in CONTAINERS}


def huge_wav_header() -> bytes:
    """A two-second WAV whose RIFF and data sizes claim 4 GB."""
    data = bytearray(encode("wav", 2.0))
    at = bytes(data).index(b"data")
    data[4:8] = struct.pack("<I", 0xFFFFFFF0)
    data[at + 4 : at + 8] = struct.pack("<I", 0xFFFFFFF0)
    return bytes(data)


def slow_wav(rate: int, seconds: float) -> bytes:
    """Silence in a WAV at ``rate`` Hz: at 8 Hz, 60 s of audio is 960 bytes (then resampled)."""
    frames = b"\x00\x00" * round(rate * seconds)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
    body += b"data" + struct.pack("<I", len(frames)) + frames
    return b"RIFF" + struct.pack("<I", len(body)) + body


def flac_claiming_forever() -> bytes:
    """A two-second FLAC whose STREAMINFO claims 2^36 - 1 samples (49 days at 16 kHz)."""
    data = bytearray(encode("flac", 2.0))
    info = 8  # "fLaC", then the metadata block header: STREAMINFO's body follows
    # total samples: the low 4 bits of body byte 13, then bytes 14..17
    data[info + 13] |= 0x0F
    data[info + 14 : info + 18] = b"\xff\xff\xff\xff"
    return bytes(data)


SPECIALS = {
    "wav-4GB-header": huge_wav_header,
    "wav-8Hz-60s": lambda: slow_wav(8, 59.0),
    "wav-1Hz-bomb": lambda: slow_wav(1, LIMIT_SECONDS * 3.0),
    "flac-header-claims-49-days": flac_claiming_forever,
    "flac-8kHz-2h-bomb": lambda: silence("flac", "flac", 8_000, 7_200),
    "adts-no-header-duration-bomb": lambda: silence("adts", "aac", 8_000, LIMIT_SECONDS * 2),
    "not-audio-text": lambda: b"hello, this is not audio at all\n" * 100,
    "not-audio-png": lambda: b"\x89PNG\r\n\x1a\n" + bytes(200),
}


def check_answer(status: int, body: bytes, elapsed: float) -> dict[str, object]:
    assert elapsed < SECONDS_PER_REQUEST, f"took {elapsed:.1f} s"
    assert status < 500, body[:300]
    payload = json.loads(body)
    if status != 200:
        assert 400 <= status < 500
        assert set(payload["error"]) == ENVELOPE_KEYS, payload
        assert payload["error"]["type"] == "invalid_request_error"
    return payload


async def transcribe(http, data: bytes, **fields: str):
    started = time.monotonic()
    response = await http.post(
        "/v1/audio/transcriptions",
        data={"model": "whisper-1", **fields},
        files={"file": ("upload", data, "application/octet-stream")},
    )
    return response, time.monotonic() - started


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(CONTAINERS))
async def test_every_variant_is_200_or_a_4xx_envelope(files, name):
    answers: dict[str, int] = {}
    async with app_client(TOML, [fakes, voxgate_pyav]) as http:
        for variant, data in files[name].items():
            response, elapsed = await transcribe(http, data, response_format="verbose_json")
            payload = check_answer(response.status_code, response.content, elapsed)
            answers[variant] = response.status_code
            if response.status_code == 200:
                assert 0 < payload["duration"] <= LIMIT_SECONDS, variant
    assert answers["good"] == 200, answers
    assert answers["zero-length"] == 400, answers
    assert answers["one-byte"] == 400, answers
    assert answers["bomb"] == 400, answers


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(CONTAINERS))
async def test_streamed_answers_never_carry_a_server_error(files, name):
    """With ``stream=true`` a failure found mid-file is an SSE error event, never a 5xx."""
    async with app_client(TOML, [fakes, voxgate_pyav]) as http:
        for variant, data in files[name].items():
            response, elapsed = await transcribe(http, data, stream="true")
            assert elapsed < SECONDS_PER_REQUEST, variant
            assert response.status_code < 500, (variant, response.text[:300])
            if response.status_code == 200:
                events = [
                    json.loads(line[len("data: ") :])
                    for line in response.text.splitlines()
                    if line.startswith("data: {")
                ]
                last = events[-1]
                assert last.get("type") == "transcript.text.done" or (
                    last["error"]["type"] == "invalid_request_error"
                ), (variant, last)
            else:
                check_answer(response.status_code, response.content, elapsed)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("special", list(SPECIALS))
async def test_lying_headers_and_bombs(special):
    data = SPECIALS[special]()
    async with app_client(TOML, [fakes, voxgate_pyav]) as http:
        response, elapsed = await transcribe(http, data, response_format="verbose_json")
    payload = check_answer(response.status_code, response.content, elapsed)
    if "bomb" in special or special.startswith("not-audio"):
        assert response.status_code == 400, payload
    if response.status_code == 200:
        assert payload["duration"] <= LIMIT_SECONDS
