"""A bounded mixed soak: every kind of traffic at once, with slow and vanishing clients.

    python bench/soak.py                      # 1 minute of warm-up, then 3 measured
    python bench/soak.py --minutes 10 --warmup-minutes 2

A real ``voxgate serve`` on the default config (bundled Whisper base and Piper; chat through
the fake LLM of tests/support/fake_upstream.py) takes, for the whole run, one client thread
each of:

- ``speech`` x2: ``tts-1`` in mp3, opus, wav or pcm, raw or SSE, read to the end;
- ``transcription`` x2: the 10 s test clip as ``whisper-1``, plain JSON or streamed;
- ``chat``: a streamed chat completion with audio out (pcm16), read to ``[DONE]``;
- ``realtime``: a transcription session on ``/v1/realtime``, the clip sent at twice real
  time, until its transcript arrives;
- ``slow``: a speech stream of 20 s read at 40 kB/s (slower than 24 kHz pcm16 plays);
- ``vanish``: a speech or transcription stream abandoned after its first bytes;
- ``stalled``: a speech stream never read (tiny receive buffer), held past ``send_timeout``.

Each engine instance has ``concurrency = 1``, so the clients keep every engine busy with a
queue behind it, well inside ``max_queue``. Reported: outcomes by kind (anything but the
expected one is an error and makes the exit status 1), latency p50/p95 per kind, and the
server's RSS (``/proc/PID/status``) sampled every second after the warm-up (the same traffic,
so every code path has allocated what it keeps), first tenth of that against the last.
Results go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import httpx
import numpy as np
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))

from fake_upstream import FakeUpstream
from servers import free_port

from voxgate.engines.audio import PcmAudio

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
CLIP = DATA / "en-10s.wav"
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please turn off the lights in the kitchen when you leave.",
    "Tomorrow the weather will be cloudy with a chance of rain in the afternoon.",
    "Our meeting moved to Thursday at half past three.",
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
]
LONG_TEXT = " ".join(SENTENCES * 4)
SEND_TIMEOUT = 5.0
STALL_SECONDS = 25.0  # a queue wait, then the send timeout
EXPECTED = {
    "speech": "ok",
    "transcription": "ok",
    "chat": "ok",
    "realtime": "ok",
    "slow": "ok",
    "vanish": "vanished",
    "stalled": "stalled",
}


@dataclass
class Results:
    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, outcome: str, seconds: float) -> None:
        with self.lock:
            self.outcomes[kind][outcome] += 1
            if outcome == EXPECTED[kind]:
                self.seconds[kind].append(seconds)


def outcome_of(response: httpx.Response) -> str:
    return "ok" if response.status_code == 200 else f"HTTP {response.status_code}"  # noqa: PLR2004


def speech(http: httpx.Client, rng: random.Random) -> str:
    body = {
        "model": "tts-1",
        "voice": rng.choice(["alloy", "nova", "echo"]),
        "input": " ".join(rng.sample(SENTENCES, 2)),
        "response_format": rng.choice(["mp3", "opus", "wav", "pcm"]),
        "stream_format": rng.choice(["audio", "sse"]),
    }
    with http.stream("POST", "/v1/audio/speech", json=body) as response:
        data = b"".join(response.iter_bytes())
    if response.status_code == 200 and body["stream_format"] == "sse":  # noqa: PLR2004
        return "ok" if b'"speech.audio.done"' in data else "sse error"
    return outcome_of(response) if data else "empty"


def transcription(http: httpx.Client, rng: random.Random) -> str:
    stream = rng.random() < 0.5  # noqa: PLR2004
    fields = {"model": "whisper-1", "stream": "true" if stream else "false"}
    files = {"file": ("clip.wav", CLIP.read_bytes(), "audio/wav")}
    response = http.post("/v1/audio/transcriptions", data=fields, files=files)
    if response.status_code == 200 and stream:  # noqa: PLR2004
        return "ok" if "transcript.text.done" in response.text else "sse error"
    return outcome_of(response)


def chat(http: httpx.Client, _: random.Random) -> str:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "Tell me something."}],
        "modalities": ["text", "audio"],
        "audio": {"voice": "alloy", "format": "pcm16"},
        "stream": True,
    }
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        lines = list(response.iter_lines())
    if response.status_code != 200:  # noqa: PLR2004
        return outcome_of(response)
    if any(line.startswith('data: {"error"') for line in lines):
        return "sse error"
    return "ok" if "data: [DONE]" in lines else "no [DONE]"


def realtime_frames() -> list[bytes]:
    with wave.open(str(CLIP)) as reader:
        audio = PcmAudio.from_pcm16(reader.readframes(reader.getnframes()), reader.getframerate())
    silence = np.zeros(24_000, dtype=np.float32)
    pcm = PcmAudio.concat([audio.resample(24_000), PcmAudio(silence, 24_000)], 24_000).to_pcm16()
    step = 2 * 2_400  # 100 ms of 24 kHz pcm16
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


def realtime(base: str, frames: list[bytes]) -> str:
    url = base.replace("http://", "ws://") + "/v1/realtime?intent=transcription"
    session = {
        "type": "transcription",
        "audio": {
            "input": {
                "transcription": {"model": "whisper-1"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
            }
        },
    }
    with connect(url, max_size=None, open_timeout=30) as ws:
        ws.send(json.dumps({"type": "session.update", "session": session}))
        for frame in frames:
            audio = base64.b64encode(frame).decode()
            ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
            time.sleep(0.05)  # twice real time
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            event = json.loads(ws.recv(timeout=60))
            if event["type"] == "conversation.item.input_audio_transcription.completed":
                return "ok" if event.get("transcript") else "empty transcript"
            if event["type"] == "error":
                return f"error event {event['error'].get('code')}"
    return "no transcript"


def slow(http: httpx.Client, _: random.Random) -> str:
    body = {
        "model": "tts-1",
        "voice": "alloy",
        "input": " ".join(SENTENCES),
        "response_format": "pcm",
    }
    received = 0
    with http.stream("POST", "/v1/audio/speech", json=body) as response:
        for data in response.iter_bytes(4096):
            received += len(data)
            time.sleep(0.1)  # 40 kB/s
    return outcome_of(response) if received else "empty"


def vanish(http: httpx.Client, rng: random.Random) -> str:
    if rng.random() < 0.5:  # noqa: PLR2004
        body = {"model": "tts-1", "voice": "alloy", "input": LONG_TEXT, "stream_format": "sse"}
        request = http.build_request("POST", "/v1/audio/speech", json=body)
    else:
        files = {"file": ("clip.wav", CLIP.read_bytes(), "audio/wav")}
        fields = {"model": "whisper-1", "stream": "true"}
        request = http.build_request("POST", "/v1/audio/transcriptions", data=fields, files=files)
    response = http.send(request, stream=True)
    try:
        if response.status_code != 200:  # noqa: PLR2004
            return outcome_of(response)
        next(response.iter_bytes(), b"")
    finally:
        response.close()  # gone before the end
    return "vanished"


def stalled(base: str) -> str:
    host, port = base.removeprefix("http://").split(":")
    body = json.dumps(
        {"model": "tts-1", "voice": "alloy", "input": LONG_TEXT, "response_format": "pcm"}
    ).encode()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, int(port)))
        sock.sendall(
            f"POST /v1/audio/speech HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json"
            f"\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        time.sleep(STALL_SECONDS)  # never reads; the server gives up first (once it started)
    return "stalled"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def soak_config(workdir: Path) -> Path:
    """The default config with a short send timeout, so stalled clients show in minutes."""
    default = resources.files("voxgate").joinpath("default.toml").read_text(encoding="utf-8")
    text = default.replace("[server]\n", f"[server]\nsend_timeout = {SEND_TIMEOUT}\n", 1)
    text = text.replace('level = "info"', 'level = "warning"', 1)
    path = workdir / "soak.toml"
    path.write_text(text, encoding="utf-8")
    return path


def start(config: Path, upstream: FakeUpstream, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "CHAT_COMPLETION_BASE_URL": upstream.url}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voxgate",
                "serve",
                "--config",
                str(config),
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:  # noqa: PLR2004
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    msg = f"voxgate did not become ready; its log: {log}"
    raise RuntimeError(msg)


def run_client(kind: str, base: str, until: float, results: Results, seed: int) -> None:
    rng = random.Random(seed)
    frames = realtime_frames() if kind == "realtime" else []
    calls = {"speech": speech, "transcription": transcription, "chat": chat, "slow": slow}
    with httpx.Client(base_url=base, timeout=120) as http:
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                if kind == "realtime":
                    outcome = realtime(base, frames)
                elif kind == "stalled":
                    outcome = stalled(base)
                elif kind == "vanish":
                    outcome = vanish(http, rng)
                else:
                    outcome = calls[kind](http, rng)
            except Exception as exc:  # noqa: BLE001 - every failure is counted by its kind
                outcome = type(exc).__name__
            results.record(kind, outcome, time.monotonic() - started)
            if kind in {"vanish", "stalled"}:
                time.sleep(rng.uniform(2, 6))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="measured, after warm-up")
    parser.add_argument("--warmup-minutes", type=float, default=1.0)
    args = parser.parse_args()
    upstream = FakeUpstream().start()
    upstream.word_delay = 0.02
    clients = ["speech", "speech", "transcription", "transcription", "chat", "realtime"]
    clients += ["slow", "vanish", "stalled"]
    results = Results()
    samples: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        log = workdir / "serve.log"
        process, base = start(soak_config(workdir), upstream, log)
        try:
            began = time.monotonic() + args.warmup_minutes * 60  # RSS counts from here
            until = began + args.minutes * 60
            threads = [
                threading.Thread(target=run_client, args=(kind, base, until, results, seed))
                for seed, kind in enumerate(clients)
            ]
            for thread in threads:
                thread.start()
            while any(thread.is_alive() for thread in threads):
                if began <= time.monotonic() <= until:
                    samples.append((time.monotonic() - began, rss_mib(process.pid)))
                time.sleep(1)
            server_log = log.read_text(encoding="utf-8", errors="replace")
        finally:
            process.terminate()
            process.wait(timeout=30)
            upstream.stop()
    return report(args, clients, results, samples, server_log)


def report(
    args: argparse.Namespace,
    clients: list[str],
    results: Results,
    samples: list[tuple[float, float]],
    server_log: str,
) -> int:
    print(
        f"soak: {args.warmup_minutes:g} min warm-up + {args.minutes:g} min measured; clients: "
        + ", ".join(f"{kind} x{clients.count(kind)}" for kind in EXPECTED)
    )
    print(f"{'kind':<14}{'requests':>9}{'p50 s':>8}{'p95 s':>8}  outcomes")
    unexpected = 0
    for kind, expected in EXPECTED.items():
        outcomes = results.outcomes[kind]
        unexpected += sum(n for outcome, n in outcomes.items() if outcome != expected)
        times = results.seconds[kind]
        p50 = f"{statistics.median(times):8.2f}" if times else f"{'-':>8}"
        p95 = f"{percentile(times, 0.95):8.2f}" if times else f"{'-':>8}"
        shown = ", ".join(f"{outcome} {n}" for outcome, n in outcomes.most_common())
        print(f"{kind:<14}{sum(outcomes.values()):>9}{p50}{p95}  {shown}")
    tenth = max(1, len(samples) // 10)
    first = statistics.mean(rss for _, rss in samples[:tenth])
    last = statistics.mean(rss for _, rss in samples[-tenth:])
    growth = (last - first) / first * 100
    peak = max(rss for _, rss in samples)
    print(
        f"RSS MiB: first tenth {first:.0f}, last tenth {last:.0f} ({growth:+.1f} %), "
        f"peak {peak:.0f}"
    )
    print("RSS over time (MiB, per tenth): " + ", ".join(
        f"{statistics.mean(r for _, r in samples[i : i + tenth]):.0f}"
        for i in range(0, tenth * 10, tenth)
    ))  # fmt: skip
    abandoned = server_log.count("client stopped reading")
    errors = sum('"level": "error"' in line for line in server_log.splitlines())
    print(f"server log: {abandoned} responses abandoned to stalled clients, {errors} error lines")
    print(f"unexpected outcomes: {unexpected}")
    return 1 if unexpected or growth >= 5 else 0  # noqa: PLR2004


if __name__ == "__main__":
    sys.exit(main())
