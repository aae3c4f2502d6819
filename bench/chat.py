"""Voice chat latency: when does the first spoken audio arrive, against the whole answer?

A fake LLM on loopback (tests/support/fake_upstream.py) streams a reply at a set rate;
voxgate (default config, Piper as ``tts-1``) speaks it. Measured in the same run:

- ``llm``: the upstream alone, request to last text chunk (the floor for any voice reply);
- ``tts``: ``/v1/audio/speech`` for the whole reply text (pcm);
- ``stream first audio``: streamed chat with audio, request to the first ``delta.audio.data``;
- ``stream done``: the same stream, request to ``[DONE]``;
- ``plain``: the non-streamed chat with audio (LLM, then the whole reply spoken).

Ratios: first audio / plain (how much sooner a listener hears something), and
stream done / (llm + tts) (overlap: below 1 means speech ran while the LLM still wrote).

    python bench/chat.py --runs 5 --word-delay 0.05
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_upstream import FakeUpstream
from stt import serve_until_ready

REPLY = (
    "Sure, here is a short plan for your afternoon. Start with a walk along the river while "
    "the light is still soft. After that, stop at the small bakery near the bridge and try "
    "their rye bread. If the weather turns, the city library has a quiet reading room on the "
    "second floor. Finish the day with a simple dinner at home and an early night."
)
MESSAGES = [{"role": "user", "content": "Plan my afternoon."}]


def llm_seconds(upstream: FakeUpstream) -> float:
    start = time.perf_counter()
    with httpx.Client(timeout=60) as http, http.stream(
        "POST", f"{upstream.url}/chat/completions",
        json={"model": "m", "messages": MESSAGES, "stream": True},
    ) as response:  # fmt: skip
        for _ in response.iter_lines():
            pass
    return time.perf_counter() - start


def tts_seconds(http: httpx.Client) -> float:
    start = time.perf_counter()
    response = http.post(
        "/v1/audio/speech",
        json={"model": "tts-1", "voice": "alloy", "input": REPLY, "response_format": "pcm"},
    )
    response.raise_for_status()
    return time.perf_counter() - start


def stream_seconds(http: httpx.Client) -> tuple[float, float]:
    body = {
        "model": "m",
        "messages": MESSAGES,
        "modalities": ["text", "audio"],
        "audio": {"voice": "alloy", "format": "pcm16"},
        "stream": True,
    }
    start = time.perf_counter()
    first = None
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if first is None and '"data"' in line and line.startswith("data: {"):
                chunk = json.loads(line.removeprefix("data: "))
                if chunk["choices"] and "data" in chunk["choices"][0]["delta"].get("audio", {}):
                    first = time.perf_counter() - start
    assert first is not None
    return first, time.perf_counter() - start


def plain_seconds(http: httpx.Client) -> float:
    start = time.perf_counter()
    response = http.post(
        "/v1/chat/completions",
        json={
            "model": "m",
            "messages": MESSAGES,
            "modalities": ["text", "audio"],
            "audio": {"voice": "alloy", "format": "mp3"},
        },
    )
    response.raise_for_status()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--word-delay", type=float, default=0.05, help="LLM seconds per word")
    args = parser.parse_args()
    upstream = FakeUpstream().start()
    upstream.reply = REPLY
    upstream.word_delay = args.word_delay
    upstream.plain_latency = True  # a non-streamed answer takes as long to write
    process, base = serve_until_ready([], {"CHAT_COMPLETION_BASE_URL": upstream.url}, 120)
    try:
        with httpx.Client(base_url=base, timeout=120) as http:
            stream_seconds(http)  # warm-up
            rows: dict[str, list[float]] = {k: [] for k in ("llm", "tts", "first", "done", "plain")}
            for _ in range(args.runs):
                rows["llm"].append(llm_seconds(upstream))
                rows["tts"].append(tts_seconds(http))
                first, done = stream_seconds(http)
                rows["first"].append(first)
                rows["done"].append(done)
                rows["plain"].append(plain_seconds(http))
    finally:
        process.terminate()
        process.wait()
        upstream.stop()
    med = {k: statistics.median(v) for k, v in rows.items()}
    words = len(REPLY.split())
    print(f"reply: {words} words, LLM at {1 / args.word_delay:.0f} words/s; medians of {args.runs}")
    print(f"llm alone (text)          {med['llm']:6.2f} s")
    print(f"tts alone (whole reply)   {med['tts']:6.2f} s")
    print(f"plain chat with audio     {med['plain']:6.2f} s")
    print(f"stream: first audio       {med['first']:6.2f} s")
    print(f"stream: done              {med['done']:6.2f} s")
    print(f"first audio / plain       {med['first'] / med['plain']:6.3f}")
    print(f"stream done / (llm + tts) {med['done'] / (med['llm'] + med['tts']):6.3f}")


if __name__ == "__main__":
    main()
