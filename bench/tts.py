"""TTS latency: voxgate's first byte and total against the raw engines, in the same run.

    python bench/tts.py [--runs 5] [--long-runs 1]

Raw side, in this process with each library's own API and the bundled models: Piper
(``PiperVoice.synthesize``) and Kokoro (``kokoro_onnx.Kokoro.create``, text phonemized
first and timed apart, so the profile shows where the first piece's time goes). Each is
timed on the first piece voxgate cuts the text into (``PiecePolicy``: the first clause),
on the first sentence (the first piece before that cut) and on the whole text. Server
side: ``voxgate serve`` with the default config, every engine warmed by a request first
(Kokoro is not preloaded), then ``/v1/audio/speech`` streamed over HTTP for a 200- and a
2000-character input, in pcm and mp3. Prints min and median, the ratios to the raw times
(first byte / raw first piece, total / raw total), for pcm the longest stall a player
starting at the first byte would hear, the load average before and after, and the server's
memory with every default engine loaded. Results go in docs/performance.md.
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

from voxgate.services.sentences import pieces

if TYPE_CHECKING:
    import subprocess

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


def first_piece(text: str) -> str:
    """What voxgate synthesizes before its first byte (the same splitter as the server)."""
    return pieces(text)[0]


class RawPiper:
    def __init__(self, model_dir: Path) -> None:
        from piper import PiperVoice

        onnx = next(model_dir.glob("*.onnx"))
        self.voice = PiperVoice.load(str(onnx), config_path=str(onnx) + ".json")

    def say(self, text: str) -> float:
        started = time.perf_counter()
        for _chunk in self.voice.synthesize(text):
            pass
        return time.perf_counter() - started

    def profile(self, text: str) -> str:  # noqa: ARG002 - Piper's phonemizer is inside it
        return ""


class RawKokoro:
    def __init__(self, model_dir: Path) -> None:
        from kokoro_onnx import Kokoro

        self.kokoro = Kokoro(str(model_dir / "model.onnx"), str(model_dir / "voices.npz"))
        self.style = self.kokoro.get_voice_style("jf_alpha")

    def say(self, text: str) -> float:
        started = time.perf_counter()
        self.kokoro.create(text, voice=self.style, lang="en-us")
        return time.perf_counter() - started

    def profile(self, text: str) -> str:
        """Phonemize (espeak-ng) against the model run, for one piece: where the time goes."""
        started = time.perf_counter()
        phonemes = self.kokoro.tokenizer.phonemize(text, "en-us")
        phonemized = time.perf_counter()
        audio, rate = self.kokoro.create(phonemes, self.style, lang="en-us", is_phonemes=True)
        ran = time.perf_counter()
        return (
            f"phonemize {1000 * (phonemized - started):.1f} ms, model {ran - phonemized:.3f} s "
            f"for {len(phonemes)} phonemes, {len(audio) / rate:.2f} s of audio"
        )


def start_default_server(cache: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {"VOXGATE_CACHE_DIR": str(cache), "VOXGATE_LOG_LEVEL": "warning"}
    return serve_until_ready([], env, timeout=180)


def server_run(client: httpx.Client, model: str, text: str, fmt: str) -> tuple[float, float]:
    first, total, _ = server_stream(client, model, text, fmt)
    return first, total


def server_stream(
    client: httpx.Client, model: str, text: str, fmt: str
) -> tuple[float, float, float]:
    """First byte, total, and (pcm) the longest stall of a player started at the first byte.

    A stall is how far the audio received falls behind real time, between pieces.
    """
    started = time.perf_counter()
    first = None
    received = 0
    stall = 0.0
    body = {"model": model, "voice": "alloy", "input": text, "response_format": fmt}
    with client.stream("POST", "/v1/audio/speech", json=body) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            now = time.perf_counter() - started
            if chunk and first is None:
                first = now
            if first is not None and fmt == "pcm":
                stall = max(stall, now - first - received / PCM_BYTES_PER_SECOND)
                received += len(chunk)
    return first or 0.0, time.perf_counter() - started, stall


PCM_BYTES_PER_SECOND = 2 * 24_000


def interleaved(
    client: httpx.Client, raw: RawPiper | RawKokoro, model: str, text: str, runs: int
) -> tuple[list[float], list[float], list[float], dict[str, list[tuple[float, float, float]]]]:
    """Raw first piece, first sentence, whole text, then the server in pcm and mp3, per run.

    Interleaved, so raw and server timings see the same load on a shared machine.
    """
    piece, sentence, whole = [], [], []
    served: dict[str, list[tuple[float, float, float]]] = {"pcm": [], "mp3": []}
    for _ in range(runs):
        piece.append(raw.say(first_piece(text)))
        sentence.append(raw.say(first_sentence(text)))
        whole.append(raw.say(text))
        for fmt, results in served.items():
            results.append(server_stream(client, model, text, fmt))
    return piece, sentence, whole, served


def spread(values: list[float]) -> str:
    """``min / median`` of the runs."""
    return f"{min(values):.3f}/{statistics.median(values):.3f}"


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure, 200 characters")
    parser.add_argument("--long-runs", type=int, default=1, help="the same, 2000 characters")
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} CPUs, {load()}; inputs {len(SHORT)} and {len(LONG)} "
        f"characters; min/median of {args.runs} runs (200) and {args.long_runs} (2000), "
        "after a warm-up"
    )
    print(
        f"first piece of the 200: {first_piece(SHORT)!r} (first sentence: "
        f"{first_sentence(SHORT)!r})"
    )
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        raws: dict[str, RawPiper | RawKokoro] = {
            "tts-1 (piper)": RawPiper(resolve_model("pkg:piper-en_US-joe-medium", cache)),
            "tts-1-hd (kokoro)": RawKokoro(resolve_model("pkg:kokoro-82m", cache)),
        }
        process, base = start_default_server(cache)
        try:
            with httpx.Client(base_url=base, timeout=600) as client:
                for name, raw in raws.items():  # load and warm every engine, both sides
                    raw.say(SHORT)
                    started = time.perf_counter()
                    for fmt in ("pcm", "mp3"):
                        server_run(client, name.split()[0], SHORT, fmt)
                    print(f"warm-up {name}: {time.perf_counter() - started:.1f} s (load included)")
                for name, raw in raws.items():
                    if profile := raw.profile(first_piece(SHORT)):
                        print(f"{name} first piece, raw: {profile}")
                print(
                    "\nengine / input       raw piece  raw sent.  raw total | fmt  first byte"
                    "   total       first/raw-piece  total/raw-total"
                )
                for name, raw in raws.items():
                    model = name.split()[0]
                    for label, text, runs in (
                        ("200", SHORT, args.runs),
                        ("2000", LONG, args.long_runs),
                    ):
                        if runs < 1:
                            continue
                        piece, sentence, whole, served = interleaved(client, raw, model, text, runs)
                        totals = {}
                        for fmt in ("pcm", "mp3"):
                            runs_ = served[fmt]
                            first = [r[0] for r in runs_]
                            total = [r[1] for r in runs_]
                            stalls = [r[2] for r in runs_]
                            totals[fmt] = statistics.median(total)
                            print(
                                f"  {name:<18} {label:>4}  {statistics.median(piece):8.3f} "
                                f"{statistics.median(sentence):9.3f} "
                                f"{statistics.median(whole):9.3f} | {fmt:<4} {spread(first)} "
                                f"{spread(total)}   "
                                f"{statistics.median(first) / statistics.median(piece):6.2f}"
                                f"   {totals[fmt] / statistics.median(whole):14.2f}"
                                + (f"   stall {spread(stalls)}" if fmt == "pcm" else "")
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
            print(f"after: {load()}")
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
