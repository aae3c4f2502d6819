"""TTS latency: voxgate's first byte and total against the raw engines, in the same run.

    python bench/tts.py [--runs 3]

Raw side, in this process with each library's own API and the bundled models: Piper
(``PiperVoice.synthesize``, which yields one chunk per sentence) and Kokoro
(``kokoro_onnx.Kokoro.create``). Their "first sentence" time is the time to the first chunk
(Piper) or to synthesize the first sentence alone (Kokoro, which has no per-sentence stream).
Server side: ``voxgate serve`` with the default config, ``/v1/audio/speech`` streamed, for a
200- and a 2000-character input, in pcm and mp3. Prints medians, ratios, the cost of mp3
encoding and the server's memory with every default engine loaded. Results go in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from typing import TYPE_CHECKING

from stt import DATA, peak_rss_mib, resolve_model, serve_until_ready
from stt_long import rss_mib

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable

SHORT = (
    "The library opens early in the morning. Please bring your own card, and return the "
    "books you borrowed last month. The reading room on the second floor is quiet today, "
    "so come and stay a while."
)
LONG_SENTENCES = [
    "Our town sits between a wide river and a line of low green hills.",
    "Every spring the farmers plant rows of beans, corn and sunflowers along the water.",
    "By the middle of summer the fields are bright yellow, and visitors come to walk there.",
    "The old bridge was built more than a hundred years ago by a family of stone masons.",
    "It has three arches, and the middle one is tall enough for small boats to pass under.",
    "On Saturday mornings there is a market in the square next to the church.",
    "You can buy fresh bread, cheese from the valley, honey and flowers from the gardens.",
    "Children gather around the man who sells wooden toys that he carves himself.",
    "In the afternoon most people rest, and the streets become calm and empty.",
    "When the sun goes down, the cafes fill up and the sound of music drifts over the roofs.",
    "The museum near the station tells the story of the river and the mills it once turned.",
    "Inside you can see old maps, tools, photographs and a model of the first steam engine.",
    "A short walk from the museum leads to the park, where tall oak trees give deep shade.",
    "Families bring blankets and baskets of food, and dogs chase each other across the grass.",
    "In autumn the leaves turn red and gold, and the hills look as if they were painted.",
    "Winter is quiet, but when snow falls the whole valley becomes white and silent.",
    "Then the lake freezes, and on clear days people skate until the light begins to fade.",
    "Visitors often say that the town feels like a place where time moves more slowly.",
    "Perhaps that is true, because nobody here seems to be in a hurry to be anywhere else.",
    "If you come, stay for a few days, and you will understand why we love it so much.",
    "Take the morning train, sit by the window, and watch the river appear between the trees.",
    "Ask anyone at the station for directions, and they will gladly walk you to the square.",
    "Before you leave, try the apple cake from the bakery on the corner of the main street.",
    "It is the best in the region, and the baker will tell you the recipe is a family secret.",
]
LONG = " ".join(LONG_SENTENCES)[:2000].rsplit(".", 1)[0] + "."


def first_sentence(text: str) -> str:
    return text.split(". ", 1)[0] + "."


class RawPiper:
    def __init__(self, model_dir: Path) -> None:
        from piper import PiperVoice

        onnx = next(model_dir.glob("*.onnx"))
        self.voice = PiperVoice.load(str(onnx), config_path=str(onnx) + ".json")

    def run(self, text: str) -> tuple[float, float]:
        started = time.perf_counter()
        first = None
        for _chunk in self.voice.synthesize(text):
            first = first or time.perf_counter() - started
        return first or 0.0, time.perf_counter() - started


class RawKokoro:
    def __init__(self, model_dir: Path) -> None:
        from kokoro_onnx import Kokoro

        self.kokoro = Kokoro(str(model_dir / "model.onnx"), str(model_dir / "voices.npz"))

    def run(self, text: str) -> tuple[float, float]:
        started = time.perf_counter()
        self.kokoro.create(first_sentence(text), voice="jf_alpha", lang="en-us")
        first = time.perf_counter() - started
        started = time.perf_counter()
        self.kokoro.create(text, voice="jf_alpha", lang="en-us")
        return first, time.perf_counter() - started


def start_default_server(cache: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {"VOXGATE_CACHE_DIR": str(cache), "VOXGATE_LOG_LEVEL": "warning"}
    return serve_until_ready([], env, timeout=180)


def server_run(client: httpx.Client, model: str, text: str, fmt: str) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    body = {"model": model, "voice": "alloy", "input": text, "response_format": fmt}
    with client.stream("POST", "/v1/audio/speech", json=body) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            if chunk and first is None:
                first = time.perf_counter() - started
    return first or 0.0, time.perf_counter() - started


def medians(
    call: Callable[[], tuple[float, float]], runs: int, *, warm_up: bool = True
) -> tuple[float, float]:
    if warm_up:
        call()
    results = [call() for _ in range(runs)]
    return (
        statistics.median(r[0] for r in results),
        statistics.median(r[1] for r in results),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per median, 200 characters")
    parser.add_argument("--long-runs", type=int, default=1, help="the same, 2000 characters")
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} CPUs; inputs {len(SHORT)} and {len(LONG)} characters; "
        f"medians of {args.runs} runs after a warm-up"
    )
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        raws = {
            "tts-1 (piper)": RawPiper(resolve_model("pkg:piper-en_US-joe-medium", cache)),
            "tts-1-hd (kokoro)": RawKokoro(resolve_model("pkg:kokoro-82m", cache)),
        }
        process, base = start_default_server(cache)
        try:
            with httpx.Client(base_url=base, timeout=600) as client:
                print(
                    "\nengine / input       raw first  raw total | fmt  first byte  total"
                    "  first/raw-first  total/raw-total"
                )
                for name, raw in raws.items():
                    model = name.split()[0]
                    for label, text, runs in (
                        ("200", SHORT, args.runs),
                        ("2000", LONG, args.long_runs),
                    ):
                        warm = text is SHORT  # one warm-up per engine and format is enough
                        raw_first, raw_total = medians(
                            lambda r=raw, t=text: r.run(t), runs, warm_up=warm
                        )
                        totals = {}
                        for fmt in ("pcm", "mp3"):
                            first, total = medians(
                                lambda m=model, t=text, f=fmt: server_run(client, m, t, f),
                                runs,
                                warm_up=warm,
                            )
                            totals[fmt] = total
                            print(
                                f"  {name:<18} {label:>4}  {raw_first:8.3f} {raw_total:9.3f} | "
                                f"{fmt:<4} {first:9.3f} {total:7.3f}   {first / raw_first:12.2f}"
                                f"   {total / raw_total:14.2f}"
                            )
                        print(
                            f"  {'':<23} mp3 encoding adds "
                            f"{(totals['mp3'] / totals['pcm'] - 1) * 100:+.1f} % to the total"
                        )
                client.post(  # load the last default engine too: whisper-tiny.en
                    "/v1/audio/transcriptions",
                    data={"model": "whisper-tiny.en"},
                    files={"file": ("a.wav", (DATA / "en-10s.wav").read_bytes())},
                ).raise_for_status()
            print(
                f"\nserver memory with every default engine loaded (2 STT, 2 TTS): "
                f"RSS {rss_mib(process.pid):.0f} MiB, peak {peak_rss_mib(process.pid):.0f} MiB"
            )
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
