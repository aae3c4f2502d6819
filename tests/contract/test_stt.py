"""Transcription and translation through the official SDK against ``voxgate serve``.

One server for the module runs the embedded default config, exactly what a user gets with
no config file: faster-whisper on the Whisper models shipped in PyPI packages, uploads
decoded by PyAV. Audio comes from the committed fixtures in tests/data.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
from wer import wer

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURES = json.loads((DATA / "fixtures.json").read_text())["files"]
ENGLISH = FIXTURES["en-10s.wav"]["text"]
SPANISH = FIXTURES["es-8s.opus"]["text"]
LONG = FIXTURES["long-2min.opus"]
TINY = "whisper-tiny.en"

FAKE_CONFIG = """
[stt.fake-stt]
kind = "fake-stt"
delay = 0.05
max_queue = 0

[models]
"whisper-1" = "fake-stt"
"""


@pytest.fixture
def server(default_server):
    return default_server


def audio(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_default_config_serves_the_openai_ids(server, client):
    ids = {m.id for m in client.models.list().data}
    assert {
        "whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize",
        "whisper-base", TINY, "tts-1", "tts-1-hd", "gpt-4o-mini-tts", "piper", "kokoro",
        "gpt-transcribe", "gpt-realtime-whisper", "gpt-4o-mini-tts-2025-12-15",
        "gpt-realtime-2.1-mini",
    } <= ids  # fmt: skip
    assert not [model for model in ids if "*" in model], "patterns are never listed"
    assert client.models.retrieve("gpt-5-transcribe-2027-01-01").id == "gpt-5-transcribe-2027-01-01"
    lines = [json.loads(line) for line in server.log.splitlines() if line.startswith("{")]
    serving = [line for line in lines if line["event"] == "voxgate serving"]
    assert len(serving) == 1
    assert serving[0]["config"] == "<embedded default>"
    assert serving[0]["stt"] == ["whisper-base", TINY]
    assert serving[0]["tts"] == ["piper", "kokoro"]


@pytest.mark.parametrize(
    "name", ["en-10s.wav", "en-10s.mp3", "en-10s.opus", "en-10s.flac", "en-10s.m4a"]
)
def test_english_in_every_container_sent_as_raw_bytes(client, name):
    """Raw bytes make the SDK send ``filename="upload"``: the container is sniffed."""
    text = client.audio.transcriptions.create(model=TINY, file=audio(name), response_format="text")
    assert isinstance(text, str)
    assert wer(ENGLISH, text) <= 0.15, text


@pytest.mark.parametrize("model", ["gpt-transcribe", "gpt-5-transcribe-2027-01-01"])
def test_todays_and_tomorrows_openai_ids_transcribe(client, model):
    """``gpt-transcribe`` by its exact key; the made-up future id by ``gpt-*transcribe*``."""
    text = client.audio.transcriptions.create(model=model, file=audio("en-10s.wav"))
    assert wer(ENGLISH, text.text) <= 0.15, text.text


def test_whisper_1_is_multilingual_and_detects_spanish(client):
    result = client.audio.transcriptions.create(
        model="whisper-1", file=DATA / "es-8s.opus", response_format="verbose_json"
    )
    assert result.language == "spanish"
    assert wer(SPANISH, result.text) <= 0.3, result.text
    assert result.duration == pytest.approx(FIXTURES["es-8s.opus"]["duration"], abs=0.1)
    assert result.usage.type == "duration"
    assert result.usage.seconds == 9


def test_translation_to_english(client):
    plain = client.audio.translations.create(model="whisper-1", file=DATA / "es-8s.opus")
    verbose = client.audio.translations.create(
        model="whisper-1", file=DATA / "es-8s.opus", response_format="verbose_json"
    )
    for text in (plain.text, verbose.text):
        found = [w for w in ("hot", "beach", "friends", "fish", "restaurant") if w in text.lower()]
        assert len(found) >= 3, text
    assert verbose.language == "english"
    assert verbose.segments


def test_english_only_model_cannot_translate_or_take_spanish(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.translations.create(model=TINY, file=audio("es-8s.opus"))
    assert info.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.transcriptions.create(model=TINY, file=audio("en-10s.mp3"), language="es")
    assert info.value.body["param"] == "language"


def test_long_audio_with_vad_has_timestamps_inside_the_speech(client):
    result = client.audio.transcriptions.create(
        model=TINY,
        file=DATA / "long-2min.opus",
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
        chunking_strategy="auto",
    )
    assert result.duration == pytest.approx(LONG["duration"], abs=0.1)
    spoken = " ".join(u["text"] for u in LONG["utterances"])
    assert wer(spoken, result.text) <= 0.2, result.text
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts)
    intervals = [(u["start"], u["end"]) for u in LONG["utterances"]]
    for segment in result.segments:
        assert 0 <= segment.start <= segment.end <= result.duration
        assert any(a - 1 <= segment.start and segment.end <= b + 1 for a, b in intervals), segment
    words = result.words
    assert len(words) >= 100
    assert [w.start for w in words] == sorted(w.start for w in words)
    assert all(0 <= w.start <= w.end <= result.duration for w in words)


SRT_CUE = re.compile(
    r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})\n(.+?)\n(?:\n|$)",
    re.DOTALL,
)
VTT_CUE = re.compile(
    r"(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n(.+?)\n(?:\n|$)", re.DOTALL
)


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def test_srt_and_vtt_parse(client):
    srt = client.audio.transcriptions.create(
        model=TINY, file=audio("en-10s.flac"), response_format="srt"
    )
    cues = SRT_CUE.findall(srt)
    assert cues, srt
    assert [int(c[0]) for c in cues] == list(range(1, len(cues) + 1))
    assert SRT_CUE.sub("", srt).strip() == "", "nothing outside the cues"
    times = [(_seconds(*c[1:5]), _seconds(*c[5:9])) for c in cues]
    assert all(a <= b for a, b in times)
    assert [a for a, _ in times] == sorted(a for a, _ in times)
    assert wer(ENGLISH, " ".join(c[9] for c in cues)) <= 0.15

    vtt = client.audio.transcriptions.create(
        model=TINY, file=audio("en-10s.flac"), response_format="vtt"
    )
    assert vtt.startswith("WEBVTT\n\n")
    vcues = VTT_CUE.findall(vtt)
    assert len(vcues) == len(cues)
    assert [(_seconds(*c[0:4]), _seconds(*c[4:8])) for c in vcues] == times


def test_stream_events_in_order_and_final_text_equals_plain(client):
    plain = client.audio.transcriptions.create(model=TINY, file=audio("long-2min.opus"))
    stream = client.audio.transcriptions.create(
        model=TINY, file=audio("long-2min.opus"), stream=True
    )
    events = list(stream)
    assert [e.type for e in events[:-1]] == ["transcript.text.delta"] * (len(events) - 1)
    assert events[-1].type == "transcript.text.done"
    assert len(events) >= 3
    assert "".join(e.delta for e in events[:-1]) == events[-1].text == plain.text
    assert events[-1].usage.output_tokens > 0
    assert plain.usage.seconds == 120


def test_stream_sends_segments_as_they_are_decoded(server):
    """The first delta leaves long before the last: deltas are not held back to the end."""
    arrivals: list[float] = []
    started = time.perf_counter()
    with (
        httpx.Client(base_url=server.base_url, timeout=120) as http,
        http.stream(
            "POST",
            "/v1/audio/transcriptions",
            data={"model": TINY, "stream": "true"},
            files={"file": ("upload", audio("long-2min.opus"), "application/octet-stream")},
        ) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        arrivals.extend(time.perf_counter() - started for line in response.iter_lines() if line)
    assert len(arrivals) >= 5
    assert arrivals[0] < 0.7 * arrivals[-1], arrivals


def test_logprobs_are_log_probabilities(client):
    result = client.audio.transcriptions.create(
        model=TINY, file=audio("en-10s.opus"), include=["logprobs"]
    )
    assert result.logprobs
    assert all(lp.logprob <= 0 for lp in result.logprobs)
    assert wer(ENGLISH, "".join(lp.token for lp in result.logprobs)) <= 0.15


def test_extra_engine_parameters(client):
    text = client.audio.transcriptions.create(
        model=TINY, file=audio("en-10s.mp3"), response_format="text", extra_body={"beam_size": 1}
    )
    assert wer(ENGLISH, text) <= 0.2
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.transcriptions.create(
            model=TINY, file=audio("en-10s.mp3"), extra_body={"beam_width": 3}
        )
    assert info.value.body["param"] == "beam_width"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"file": b""}, "file"),
        ({"file": b"GIF89a not audio" * 10}, "file"),
        ({"file": audio("en-10s.mp3")[:300]}, "file"),
        ({"response_format": "csv"}, "response_format"),
        (
            {"timestamp_granularities": ["sentence"], "response_format": "verbose_json"},
            "timestamp_granularities",
        ),
        ({"temperature": 1.2}, "temperature"),
    ],
)
def test_errors_are_400_with_param(client, kwargs, param):
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.transcriptions.create(**{"model": TINY, "file": audio("en-10s.mp3"), **kwargs})
    assert info.value.body["param"] == param
    assert info.value.body["type"] == "invalid_request_error"


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.audio.transcriptions.create(model="whisper-large-v9", file=audio("en-10s.mp3"))
    assert info.value.body["code"] == "model_not_found"


def test_oversize_upload_is_413(client):
    with pytest.raises(openai.APIStatusError) as info:
        client.audio.transcriptions.create(model=TINY, file=b"\0" * (26_214_400 + 10))
    assert info.value.status_code == 413
    assert info.value.body["message"].startswith("Maximum content size limit (26214400) exceeded")


def test_concurrent_requests_share_the_engine(client):
    texts: list[str] = []

    def one() -> None:
        texts.append(
            client.audio.transcriptions.create(
                model=TINY, file=audio("en-10s.opus"), response_format="text"
            )
        )

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(texts) == 3
    assert all(wer(ENGLISH, t) <= 0.15 for t in texts)


def test_full_queue_is_429_and_leaving_a_stream_stops_the_engine(serve):
    """With the fake engine (0.05 s per segment) the timing is exact."""
    server = serve(FAKE_CONFIG)
    long = audio("long-2min.opus")
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        with http.stream(
            "POST",
            "/v1/audio/transcriptions",
            data={"model": "whisper-1", "stream": "true"},
            files={"file": ("upload", long, "application/octet-stream")},
        ) as response:
            lines = response.iter_lines()  # keep a reference: dropping it closes the response
            assert next(lines).startswith("data: ")
            busy = http.post(
                "/v1/audio/transcriptions",
                data={"model": "whisper-1"},
                files={"file": ("upload", long, "application/octet-stream")},
            )
            assert busy.status_code == 429
            assert busy.json()["error"]["code"] == "rate_limit_exceeded"
        # 120 segments would take 6 s: leaving must free the engine at once
        deadline = time.monotonic() + 2
        while True:
            again = http.post(
                "/v1/audio/transcriptions",
                data={"model": "whisper-1", "response_format": "text"},
                files={"file": ("a.wav", audio("en-10s.wav"), "audio/wav")},
            )
            if again.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert again.status_code == 200
