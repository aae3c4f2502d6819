"""An hour of audio in one upload: time, first streamed text and the server's peak memory.

    python bench/stt_long.py [--minutes 60] [--model pkg:whisper-tiny.en]

Builds the file from the 2-minute fixture repeated (mp3, 32 kbit/s mono, under the 25 MB
upload limit), streams the transcription from a real ``voxgate serve`` and samples the
server's RSS while it works. Results go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from stt import DATA, decode, peak_rss_mib, start_server


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def hour_of_mp3(minutes: int, path: Path) -> float:
    """The 2-minute fixture repeated to ``minutes``, as mono 16 kHz mp3; returns seconds."""
    clip = decode(DATA / "long-2min.opus")
    samples = np.tile(clip, max(1, minutes // 2))
    with av.open(str(path), "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=16_000, layout="mono")
        stream.bit_rate = 32_000
        step = 16_000 * 10
        for begin in range(0, len(samples), step):
            frame = av.AudioFrame.from_ndarray(
                samples[begin : begin + step].reshape(1, -1), format="flt", layout="mono"
            )
            frame.sample_rate = 16_000
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return len(samples) / 16_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--model", default="pkg:whisper-tiny.en")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        path = cache / "long.mp3"
        seconds = hour_of_mp3(args.minutes, path)
        size = path.stat().st_size
        print(f"{seconds / 60:.0f} min of audio, {size / 1e6:.1f} MB mp3; model {args.model}")
        process, base = start_server(
            args.model, threads=args.threads, workers=1, beam=5, concurrency=1, cache=cache
        )
        idle = rss_mib(process.pid)
        samples: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(rss_mib(process.pid))
                time.sleep(0.5)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            started = time.perf_counter()
            first = None
            events = 0
            with (
                httpx.Client(base_url=base, timeout=None) as client,
                client.stream(
                    "POST",
                    "/v1/audio/transcriptions",
                    data={"model": "bench", "stream": "true"},
                    files={"file": ("upload", path.read_bytes(), "application/octet-stream")},
                ) as response,
            ):
                response.raise_for_status()
                for line in response.iter_lines():
                    if line:
                        events += 1
                        first = first or time.perf_counter() - started
            total = time.perf_counter() - started
        finally:
            done.set()
            sampler.join()
            peak = peak_rss_mib(process.pid)
            process.terminate()
            process.wait(timeout=30)
        print(
            f"first text after {first:.1f} s; all {events} events after {total:.0f} s "
            f"(RTF {total / seconds:.3f})"
        )
        print(
            f"server RSS: {idle:.0f} MiB loaded and idle, peak {peak:.0f} MiB "
            f"(sampled max {max(samples):.0f} MiB)"
        )


if __name__ == "__main__":
    main()
