"""Scaling out on one machine: 1 vs 2 replicas behind HAProxy, and what the balancer costs.

Real parts, as tests/contract/test_scale_out.py has them: ``redis-server`` for the shared
state, HAProxy (round-robin, ``/ready`` checks) in front, ``voxgate serve`` replicas on the
default config (Piper as ``tts-1``). Measured in the same run:

- ``throughput``: ``/v1/audio/speech`` requests per second with ``--clients`` in flight, for one
  replica asked directly, one behind HAProxy, and two behind HAProxy;
- ``overhead``: median latency of ``GET /health`` (no engine) direct vs through HAProxy: what
  the extra hop adds to every request.

On a machine whose cores one replica already keeps busy, a second replica cannot add
throughput (it competes for the same cores); the gain comes with more machines or GPUs.

    python bench/scale_out.py --requests 24 --clients 4
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stt import serve_until_ready
from system_servers import HAProxy, Redis

TEXT = "The quick brown fox jumps over the lazy dog, and then it runs back into the forest."
SPEECH = {"model": "tts-1", "input": TEXT, "voice": "alloy", "response_format": "pcm"}


def throughput(base_url: str, requests: int, clients: int) -> float:
    """Speech requests per second with ``clients`` in flight (after one warm-up each)."""

    def one(_: int) -> None:
        with httpx.Client(base_url=base_url, timeout=120) as http:
            http.post("/v1/audio/speech", json=SPEECH).raise_for_status()

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(one, range(clients)))
        started = time.perf_counter()
        list(pool.map(one, range(requests)))
    return requests / (time.perf_counter() - started)


def health_latency(base_url: str, runs: int) -> float:
    """Median seconds of ``GET /health`` on one kept-alive connection."""
    times = []
    with httpx.Client(base_url=base_url, timeout=10) as http:
        for _ in range(runs):
            started = time.perf_counter()
            http.get("/health").raise_for_status()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=24)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--health-runs", type=int, default=500)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        redis = Redis(workdir).start()
        env = {"VOXGATE_STATE_URL": redis.url, "VOXGATE_LOG_LEVEL": "warning"}
        replicas = [serve_until_ready([], env, timeout=180) for _ in range(2)]
        urls = [base for _, base in replicas]
        one_balanced = HAProxy(workdir / "one", [urls[0].removeprefix("http://")])
        two_balanced = HAProxy(workdir / "two", [u.removeprefix("http://") for u in urls])
        (workdir / "one").mkdir()
        (workdir / "two").mkdir()
        one_balanced.start()
        two_balanced.start()
        time.sleep(1.5)  # the first health checks
        try:
            rows = [
                ("1 replica, direct", throughput(urls[0], options.requests, options.clients)),
                (
                    "1 replica, HAProxy",
                    throughput(one_balanced.url, options.requests, options.clients),
                ),
                (
                    "2 replicas, HAProxy",
                    throughput(two_balanced.url, options.requests, options.clients),
                ),
            ]
            direct = health_latency(urls[0], options.health_runs)
            balanced = health_latency(one_balanced.url, options.health_runs)
        finally:
            one_balanced.stop()
            two_balanced.stop()
            for process, _ in replicas:
                process.terminate()
                process.wait(timeout=30)
            redis.stop()
    base = rows[0][1]
    print(f"speech, {options.requests} requests, {options.clients} in flight")
    print("| setup | requests/s | vs 1 replica direct |")
    print("|---|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:.2f} | {rate / base:.2f} |")
    print()
    print(f"GET /health, median of {options.health_runs}")
    print(f"direct {direct * 1000:.2f} ms, through HAProxy {balanced * 1000:.2f} ms, ")
    print(f"balancer overhead {(balanced - direct) * 1000:.2f} ms per request")


if __name__ == "__main__":
    main()
