"""STT overhead and throughput: voxgate over HTTP against faster-whisper called in-process.

    python bench/stt.py                       # tiny.en, 2 threads, 7 runs per clip
    python bench/stt.py --model pkg:whisper-base --runs 5 --concurrency 1
    python bench/stt.py --metrics-overhead    # the cost of Prometheus metrics: on against off

Both sides use the same model directory, compute type, threads, beam size and file. The raw
side is what a script calling faster-whisper would do: ``model.transcribe(path)`` and read
every segment. The server side is a real ``voxgate serve`` process on loopback, driven with
multipart uploads as the OpenAI SDK sends them. Printed: median latencies and their ratio,
throughput in audio seconds per second at 1, 2, 4 and 8 concurrent requests for both, and
peak RSS. Results go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import queue
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path
from typing import TYPE_CHECKING

import av
import httpx
import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=16_000)
        parts = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(audio=0)
            for out in resampler.resample(frame)
        ]
        parts += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(parts)


def write_wav(samples: np.ndarray, path: Path) -> Path:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(pcm)
    path.write_bytes(buffer.getvalue())
    return path


def clips(workdir: Path) -> dict[str, Path]:
    """A 10 s clip (committed fixture) and the first 60 s of the long fixture as WAV."""
    long = decode(DATA / "long-2min.opus")[: 60 * 16_000]
    return {"10s": DATA / "en-10s.wav", "60s": write_wav(long, workdir / "60s.wav")}


def resolve_model(spec: str, cache: Path) -> Path:
    from voxgate.models.sources import ModelSourceContext, ModelSources
    from voxgate.plugins.hooks import Hooks
    from voxgate.plugins.manager import make_plugin_manager

    pm = make_plugin_manager(entry_points_enabled=True, trace=False)
    sources = ModelSources(Hooks(pm).registry.model_source, ModelSourceContext(cache_dir=cache))
    return sources.resolve(spec)


# -- the raw engine ----------------------------------------------------------------------------


class Raw:
    def __init__(self, model_dir: Path, threads: int, workers: int, beam: int) -> None:
        from faster_whisper import WhisperModel

        self.model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type="int8",
            cpu_threads=threads,
            num_workers=workers,
        )
        self.beam = beam

    def run(self, path: Path) -> str:
        segments, _ = self.model.transcribe(str(path), beam_size=self.beam)
        return "".join(s.text for s in segments).strip()


# -- the server --------------------------------------------------------------------------------


def start_server(
    spec: str,
    *,
    threads: int,
    workers: int,
    beam: int,
    concurrency: int,
    cache: Path,
    metrics: str = "open",
) -> tuple[subprocess.Popen[bytes], str]:
    config = cache / f"bench-{metrics}.toml"
    config.write_text(
        f"""
[server]
cache_dir = "{cache}"
metrics = "{metrics}"

[logging]
level = "warning"

[stt.bench]
kind = "faster-whisper"
model = "{spec}"
compute_type = "int8"
cpu_threads = {threads}
num_workers = {workers}
beam_size = {beam}
concurrency = {concurrency}
max_queue = 64
preload = true
"""
    )
    return serve_until_ready(["--config", str(config)], {}, timeout=120)


def serve_until_ready(
    args: list[str], env: dict[str, str], timeout: float
) -> tuple[subprocess.Popen[bytes], str]:
    """``voxgate serve *args`` on a free port, once ``/ready`` answers 200."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "voxgate", "serve", *args],
        env={**os.environ, **env, "VOXGATE_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:  # noqa: PLR2004
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    msg = "voxgate did not become ready"
    raise RuntimeError(msg)


def post(client: httpx.Client, path: Path) -> str:
    response = client.post(
        "/v1/audio/transcriptions",
        data={"model": "bench", "response_format": "json"},
        files={"file": ("upload", path.read_bytes(), "application/octet-stream")},
    )
    response.raise_for_status()
    return str(response.json()["text"])


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- measuring ---------------------------------------------------------------------------------


def paired_medians(
    raw: Callable[[], object], server: Callable[[], object], runs: int
) -> tuple[float, float, float]:
    """Median raw and server seconds, and the median of per-pair ratios.

    Runs alternate raw, server, raw, server... so drift in machine load hits both sides alike.
    """
    raw()  # warm-up
    server()
    raw_times, server_times, ratios = [], [], []
    for _ in range(runs):
        started = time.perf_counter()
        raw()
        middle = time.perf_counter()
        server()
        ended = time.perf_counter()
        raw_times.append(middle - started)
        server_times.append(ended - middle)
        ratios.append((ended - middle) / (middle - started))
    return (
        statistics.median(raw_times),
        statistics.median(server_times),
        statistics.median(ratios),
    )


def throughput(
    call: Callable[[Path], object], path: Path, audio_seconds: float, concurrent: int, rounds: int
) -> float:
    """Audio seconds transcribed per wall second with ``concurrent`` requests in flight."""
    jobs: queue.Queue[Path | None] = queue.Queue()
    for _ in range(concurrent * rounds):
        jobs.put(path)

    def worker() -> None:
        while True:
            try:
                job = jobs.get_nowait()
            except queue.Empty:
                return
            call(job)

    threads = [threading.Thread(target=worker) for _ in range(concurrent)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return audio_seconds * concurrent * rounds / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pkg:whisper-tiny.en")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--concurrency", type=int, default=1, help="the instance's slots")
    parser.add_argument("--workers", type=int, default=1, help="CTranslate2 num_workers")
    parser.add_argument("--levels", default="1,2,4,8")
    parser.add_argument(
        "--metrics-overhead",
        action="store_true",
        help="instead: voxgate with [server] metrics on against off, paired, same model",
    )
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print(
        f"model {args.model}, int8, cpu_threads={args.threads}, beam={args.beam}, "
        f"instance concurrency={args.concurrency}, {args.runs} runs per median"
    )
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        files = clips(cache)
        if args.metrics_overhead:
            metrics_overhead(args, cache, files)
            return
        model_dir = resolve_model(args.model, cache)
        raw = Raw(model_dir, args.threads, args.workers, args.beam)
        process, base = start_server(
            args.model,
            threads=args.threads,
            workers=args.workers,
            beam=args.beam,
            concurrency=args.concurrency,
            cache=cache,
        )
        try:
            with httpx.Client(base_url=base, timeout=600) as client:
                print("\nlatency (median)        raw s   voxgate s   ratio (median of pairs)")
                for name, path in files.items():
                    raw_s, srv_s, ratio = paired_medians(
                        lambda p=path: raw.run(p), lambda p=path: post(client, p), args.runs
                    )
                    print(f"  {name:<20} {raw_s:8.3f}   {srv_s:9.3f}   {ratio:5.3f}")
                path = files["10s"]
                seconds = 9.951
                print("\nthroughput, 10 s clip   raw audio-s/s   voxgate audio-s/s   ratio")
                local = threading.local()

                def server_call(p: Path) -> None:
                    if not hasattr(local, "client"):
                        local.client = httpx.Client(base_url=base, timeout=600)
                    post(local.client, p)

                for level in levels:
                    rounds = max(2, 8 // level)
                    raw_tp = throughput(raw.run, path, seconds, level, rounds)
                    srv_tp = throughput(server_call, path, seconds, level, rounds)
                    print(
                        f"  {level} concurrent {raw_tp:17.2f} {srv_tp:19.2f}   "
                        f"{srv_tp / raw_tp:5.3f}"
                    )
            print(
                f"\npeak RSS: voxgate {peak_rss_mib(process.pid):.0f} MiB, raw "
                f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB "
                "(bench process, includes the raw model)"
            )
        finally:
            process.terminate()
            process.wait(timeout=30)


def metrics_overhead(args: argparse.Namespace, cache: Path, files: dict[str, Path]) -> None:
    """Two servers, one with ``metrics = "off"``: paired medians of the same upload on each.

    Both load the same model; requests alternate between them, so drift hits both alike. The
    ratio is metrics-on over metrics-off (1.00: no cost).
    """
    settings = {
        "threads": args.threads,
        "workers": args.workers,
        "beam": args.beam,
        "concurrency": args.concurrency,
        "cache": cache,
    }
    off, off_base = start_server(args.model, metrics="off", **settings)
    on, on_base = start_server(args.model, metrics="open", **settings)
    try:
        with (
            httpx.Client(base_url=off_base, timeout=600) as off_client,
            httpx.Client(base_url=on_base, timeout=600) as on_client,
        ):
            print("\nmetrics overhead        off s     on s   ratio on/off (median of pairs)")
            for name, path in files.items():
                off_call = lambda p=path: post(off_client, p)  # noqa: E731
                on_call = lambda p=path: post(on_client, p)  # noqa: E731
                # each order once: the second of a pair runs on a warmer machine, so a ratio
                # from one order alone carries that bias; their geometric mean cancels it
                off_s, on_s, off_first = paired_medians(off_call, on_call, args.runs)
                _, _, on_first = paired_medians(on_call, off_call, args.runs)
                ratio = (off_first / on_first) ** 0.5
                print(f"  {name:<20} {off_s:6.3f} {on_s:8.3f}   {ratio:5.3f}")
            scraped = on_client.get("/metrics")
            scraped.raise_for_status()
            seconds = [
                line
                for line in scraped.text.splitlines()
                if line.startswith("voxgate_audio_seconds_total")
            ]
            print(f"  metrics were collected: {seconds}")
    finally:
        for process in (off, on):
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
