"""Server memory for tiny files that decode to hours of audio (issue 16): one, two, refused.

    python bench/upload_memory.py [--minutes 233] [--refused-minutes 246] [--only one]

Makes FLAC files of silence at 16 kHz with PyAV (3 h 53 min is 2.6 MB; 900 MB as float32),
then, each on a fresh ``voxgate serve`` (faster-whisper, ``vad_filter = true`` so silence
costs little engine time, defaults otherwise):

- ``one``: one upload, transcribed;
- ``two``: two uploads at once (the second waits in the engine queue);
- ``refused``: one upload longer than ``max_decoded_seconds`` (4 h), answered 400.

Prints the server's RSS when idle, its peak (VmHWM) and its RSS after the requests, in MiB.
Run it from another checkout's ``server`` and ``plugins`` (``PYTHONPATH``) to compare.
Results go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from audio_files import silence
from stt import peak_rss_mib, serve_until_ready


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def config(cache: Path, model: str) -> Path:
    path = cache / "upload-memory.toml"
    path.write_text(
        f"""
[server]
cache_dir = "{cache}"

[logging]
level = "warning"

[stt.bench]
kind = "faster-whisper"
model = "{model}"
compute_type = "int8"
cpu_threads = 2
vad_filter = true
"""
    )
    return path


def post(base: str, data: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=None) as client:
        response = client.post(
            "/v1/audio/transcriptions",
            data={"model": "bench", "response_format": "json"},
            files={"file": ("upload", data, "application/octet-stream")},
        )
    return response.status_code, time.perf_counter() - started


def scenario(name: str, path: Path, uploads: list[bytes]) -> None:
    process, base = serve_until_ready(["--config", str(path)], {}, timeout=300)
    try:
        post(base, silence("flac", "flac", 16_000, 5))  # warm: model run once
        idle = rss_mib(process.pid)
        idle_peak = peak_rss_mib(process.pid)
        with concurrent.futures.ThreadPoolExecutor(len(uploads)) as pool:
            answers = list(pool.map(lambda data: post(base, data), uploads))
        peak = peak_rss_mib(process.pid)
        time.sleep(1.0)
        after = rss_mib(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
    codes = ", ".join(f"{code} in {seconds:.0f} s" for code, seconds in answers)
    print(
        f"{name:8} {codes:28} idle {idle:6.0f}  peak {peak:6.0f} "
        f"(+{peak - max(idle, idle_peak):5.0f})  after {after:6.0f} (+{after - idle:5.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=233.0)
    parser.add_argument("--refused-minutes", type=float, default=246.0)
    parser.add_argument("--model", default="pkg:whisper-tiny.en")
    parser.add_argument("--only", choices=["one", "two", "refused"], action="append")
    args = parser.parse_args()
    long = silence("flac", "flac", 16_000, args.minutes * 60)
    refused = silence("flac", "flac", 16_000, args.refused_minutes * 60)
    print(
        f"accepted: {args.minutes:.0f} min in {len(long) / 1e6:.1f} MB of FLAC; "
        f"refused: {args.refused_minutes:.0f} min in {len(refused) / 1e6:.1f} MB; "
        f"model {args.model}; RSS in MiB, peak growth over the idle peak"
    )
    runs = {"refused": [refused], "one": [long], "two": [long, long]}
    with tempfile.TemporaryDirectory() as tmp:
        path = config(Path(tmp), args.model)
        for name in args.only or list(runs):
            scenario(name, path, runs[name])


if __name__ == "__main__":
    main()
