"""Home Assistant (Wyoming): voxgate's Wyoming server against wyoming-faster-whisper and -piper.

    python bench/home_assistant.py                     # tiny.en, 7 pairs per median
    python bench/home_assistant.py --model pkg:whisper-base --runs 5
    python bench/home_assistant.py --reference-only    # the two reference servers alone
    python bench/home_assistant.py --wyoming-bench /tmp/wyoming-benchtool/bin/wyoming-bench

The reference side is what Home Assistant users run today: ``wyoming-faster-whisper`` and
``wyoming-piper`` from PyPI, in a virtualenv of their own (``--ref-python``)::

    python -m venv /tmp/wyoming-ref
    /tmp/wyoming-ref/bin/pip install wyoming-faster-whisper wyoming-piper

Both are pointed at the model files voxgate resolves for its ``pkg:`` sources (the bench
resolves them with voxgate's own resolver): ``--model <CTranslate2 dir> --local-files-only``
for faster-whisper, and a data directory holding symlinks named ``en_US-joe-medium.onnx`` and
``.onnx.json`` for Piper. Nothing is downloaded (``HF_HUB_OFFLINE=1``; wyoming-piper finds the
voice's files on disk, so it never fetches them). The voxgate side is one ``voxgate serve``
with ``[wyoming] enabled = true``, one STT instance and one TTS instance with the same model,
int8, threads and beam size. Every server listens on loopback on a free port.

Measured with the ``wyoming`` package's client, one connection per request as Home Assistant
opens them, reference and voxgate alternating (the order flips every pair, so whichever runs
second on a warmer machine is not always the same side):

- transcription: ``Transcribe(language="en")``, ``AudioStart``, the clip as 1024-sample
  ``AudioChunk`` events paced at real time (as a microphone sends them; ``--burst`` sends them
  at once), ``AudioStop``; latency is AudioStop written to ``Transcript`` read.
- speech: ``Synthesize`` of a short answer and of three sentences; time to the first
  ``AudioChunk`` and to ``AudioStop``, from the request's connect. Where both sides advertise
  ``supports_synthesize_streaming``, also the streamed form Home Assistant uses for LLM
  answers (``SynthesizeStart``, one ``SynthesizeChunk`` per sentence, ``SynthesizeStop``).
- memory, after both workloads: VmRSS, VmHWM and PSS (``/proc/PID/smaps_rollup``) of each
  server's process tree (children included): one voxgate against the two reference servers
  added up.

Printed: medians, the median of the per-pair ratios voxgate / reference (below 1: voxgate is
faster), and the memory. Results go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
)

sys.path.insert(0, str(Path(__file__).parent))
from stt import DATA, decode, free_port, resolve_model

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

RATE = 16_000
CHUNK_SAMPLES = 1024  # what Wyoming satellites and Home Assistant send per AudioChunk
VOICE = "pkg:piper-en_US-joe-medium"
SHORT = "Turned on the kitchen lights."
THREE = (
    "The living room is at twenty one degrees and the heating is off. "
    "Tomorrow will be cloudy in the morning, with rain from about three in the afternoon. "
    "Your next appointment is the dentist on Thursday at nine thirty."
)
HOST = "127.0.0.1"


# -- clips -------------------------------------------------------------------------------------


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def clips() -> dict[str, bytes]:
    """16 kHz 16-bit mono PCM: the 10 s fixture and one 3.1 s sentence of the long fixture.

    The short one ("Please write down your ideas before the end of the week.") is the length
    of a voice command.
    """
    with wave.open(str(DATA / "en-10s.wav"), "rb") as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (RATE, 2, 1)
        ten = wav.readframes(wav.getnframes())
    long = decode(DATA / "long-2min.opus")
    return {"3 s": pcm16(long[int(35.6 * RATE) : int(38.7 * RATE)]), "10 s": ten}


# -- the servers -------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    info: Info | None = field(default=None)


def start(name: str, argv: list[str], env: dict[str, str], port: int, logs: Path) -> Server:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(name, process, port, log)


async def describe(port: int) -> Info:
    async with AsyncTcpClient(HOST, port, connect_timeout=2, read_timeout=30) as client:
        await client.write_event(Describe().event())
        while True:
            event = await client.read_event()
            if event is None:
                msg = "connection closed before info"
                raise ConnectionError(msg)
            if Info.is_type(event.type):
                return Info.from_event(event)


async def wait_ready(server: Server, deadline: float) -> None:
    """Until the server answers ``describe`` (its models are loaded by then)."""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            server.info = await describe(server.port)
        except (TimeoutError, OSError):
            await asyncio.sleep(0.25)
        else:
            return
    tail = server.log.read_text(errors="replace")[-3000:]
    msg = f"{server.name} did not answer describe on port {server.port}:\n{tail}"
    raise RuntimeError(msg)


def start_reference(
    args: argparse.Namespace, whisper_dir: Path, voice_dir: Path, work: Path
) -> tuple[Server, Server]:
    """wyoming-faster-whisper and wyoming-piper, each on the bundled model files."""
    piper_data = work / "piper-data"  # the voice under the file names wyoming-piper looks for
    piper_data.mkdir()
    onnx = next(voice_dir.glob("*.onnx"))
    (piper_data / onnx.name).symlink_to(onnx)
    (piper_data / f"{onnx.name}.json").symlink_to(Path(f"{onnx}.json"))
    whisper_data = work / "whisper-data"  # required by the CLI; stays empty
    whisper_data.mkdir()

    port = free_port()
    whisper = start(
        "wyoming-faster-whisper",
        [
            args.whisper_python or args.ref_python,
            "-m",
            "wyoming_faster_whisper",
            "--uri",
            f"tcp://{HOST}:{port}",
            "--model",
            str(whisper_dir),
            "--data-dir",
            str(whisper_data),
            "--local-files-only",
            "--device",
            "cpu",
            "--compute-type",
            "int8",
            "--beam-size",
            str(args.beam),
            "--cpu-threads",
            str(args.threads),
        ],
        {},
        port,
        work,
    )
    port = free_port()
    piper = start(
        "wyoming-piper",
        [
            args.piper_python or args.ref_python,
            "-m",
            "wyoming_piper",
            "--uri",
            f"tcp://{HOST}:{port}",
            "--voice",
            onnx.stem,
            "--data-dir",
            str(piper_data),
            "--local-files-only",
        ],
        {},
        port,
        work,
    )
    return whisper, piper


def start_voxgate(args: argparse.Namespace, work: Path) -> Server:
    """One ``voxgate serve``: the Wyoming server on, one STT and one TTS instance."""
    port = free_port()
    config = work / "voxgate-wyoming.toml"
    config.write_text(
        f"""
[server]
host = "{HOST}"
port = {free_port()}
cache_dir = "{work / "cache"}"
offline = true

[logging]
level = "warning"

[wyoming]
enabled = true
host = "{HOST}"
port = {port}

[stt.whisper]
kind = "faster-whisper"
model = "{args.model}"
device = "cpu"
compute_type = "int8"
cpu_threads = {args.threads}
beam_size = {args.beam}
preload = true

[tts.piper]
kind = "piper"
model = "{VOICE}"
preload = true
"""
    )
    return start(
        "voxgate",
        [sys.executable, "-m", "voxgate", "serve", "--config", str(config)],
        {},
        port,
        work,
    )


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


# -- requests ----------------------------------------------------------------------------------


async def transcribe(port: int, pcm: bytes, *, pace: bool) -> tuple[float, str]:
    """Seconds from AudioStop written to Transcript read, and the text."""
    loop = asyncio.get_running_loop()
    step = CHUNK_SAMPLES * 2
    async with AsyncTcpClient(HOST, port, read_timeout=300) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=RATE, width=2, channels=1).event())
        began = loop.time()
        for index, offset in enumerate(range(0, len(pcm), step)):
            chunk = AudioChunk(rate=RATE, width=2, channels=1, audio=pcm[offset : offset + step])
            await client.write_event(chunk.event())
            if pace:
                due = began + (index + 1) * CHUNK_SAMPLES / RATE
                await asyncio.sleep(max(0.0, due - loop.time()))
        await client.write_event(AudioStop().event())
        stopped = time.perf_counter()
        while True:
            event = await client.read_event()
            if event is None:
                msg = "connection closed before the transcript"
                raise ConnectionError(msg)
            if Transcript.is_type(event.type):
                return time.perf_counter() - stopped, Transcript.from_event(event).text
            if Error.is_type(event.type):
                raise RuntimeError(Error.from_event(event).text)


@dataclass
class Speech:
    first: float  # seconds to the first AudioChunk
    total: float  # seconds to AudioStop (or SynthesizeStopped, streamed)
    audio: float  # seconds of audio received


async def synthesize(port: int, text: str, *, streamed: bool) -> Speech:
    """One request from connect to the end of the audio."""
    started = time.perf_counter()
    first = None
    audio_bytes = 0
    rate = width = channels = 0
    async with AsyncTcpClient(HOST, port, read_timeout=300) as client:
        if streamed:
            # as Home Assistant streams an LLM answer: start, a chunk per sentence, the whole
            # text as a Synthesize (for servers without streaming), stop
            await client.write_event(SynthesizeStart().event())
            for sentence in text.split(". "):
                part = sentence if sentence.endswith(".") else sentence + ". "
                await client.write_event(SynthesizeChunk(text=part).event())
            await client.write_event(Synthesize(text=text).event())
            await client.write_event(SynthesizeStop().event())
        else:
            await client.write_event(Synthesize(text=text).event())
        while True:
            event = await client.read_event()
            if event is None:
                msg = "connection closed before the end of the audio"
                raise ConnectionError(msg)
            if AudioStart.is_type(event.type):
                start_event = AudioStart.from_event(event)
                rate, width, channels = start_event.rate, start_event.width, start_event.channels
            elif AudioChunk.is_type(event.type):
                if first is None:
                    first = time.perf_counter() - started
                audio_bytes += len(event.payload or b"")
            elif (AudioStop.is_type(event.type) and not streamed) or (
                SynthesizeStopped.is_type(event.type)
            ):
                total = time.perf_counter() - started
                seconds = audio_bytes / (rate * width * channels) if rate else 0.0
                return Speech(first or total, total, seconds)
            elif Error.is_type(event.type):
                raise RuntimeError(Error.from_event(event).text)


# -- measuring ---------------------------------------------------------------------------------


async def pairs(
    ref: Callable[[], Awaitable[tuple[float, ...]]],
    vox: Callable[[], Awaitable[tuple[float, ...]]] | None,
    runs: int,
) -> tuple[list[tuple[float, ...]], list[tuple[float, ...]]]:
    """``runs`` measurements of each side after one warm-up each.

    The sides alternate, and the order flips every pair.
    """
    await ref()
    if vox is not None:
        await vox()
    ref_results, vox_results = [], []
    for index in range(runs):
        if vox is None:
            ref_results.append(await ref())
        elif index % 2 == 0:
            ref_results.append(await ref())
            vox_results.append(await vox())
        else:
            vox_results.append(await vox())
            ref_results.append(await ref())
    return ref_results, vox_results


def median(results: list[tuple[float, ...]], index: int) -> float:
    return statistics.median(r[index] for r in results)


def ratio(ref: list[tuple[float, ...]], vox: list[tuple[float, ...]], index: int) -> float:
    """Median of the per-pair ratios voxgate / reference."""
    return statistics.median(v[index] / r[index] for r, v in zip(ref, vox, strict=True))


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    pids, index = [pid], 0
    while index < len(pids):
        for task in Path(f"/proc/{pids[index]}/task").glob("*"):
            with contextlib.suppress(OSError):
                pids += [int(c) for c in (task / "children").read_text().split()]
        index += 1
    return pids


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM and Pss of a process tree, MiB (each summed over the tree's processes)."""
    totals = {"rss": 0.0, "hwm": 0.0, "pss": 0.0}
    keys = {"VmRSS:": "rss", "VmHWM:": "hwm"}
    for member in tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                name = line.split(":")[0] + ":"
                if name in keys:
                    totals[keys[name]] += int(line.split()[1]) / 1024
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    totals["pss"] += int(line.split()[1]) / 1024
    return totals


def streaming(info: Info | None) -> bool:
    return bool(info and info.tts and info.tts[0].supports_synthesize_streaming)


# -- reporting ---------------------------------------------------------------------------------


def ref_version(python: str, dist: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "?"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} CPUs, {memory:.0f} GiB, Python {platform.python_version()}"


def fmt_ratio(ref: list[tuple[float, ...]], vox: list[tuple[float, ...]], index: int) -> str:
    return f"{ratio(ref, vox, index):6.3f}" if vox else "     -"


def fmt_median(results: list[tuple[float, ...]], index: int) -> str:
    return f"{median(results, index):8.3f}" if results else "       -"


def header(args: argparse.Namespace) -> None:
    from voxgate import __version__

    whisper_python = args.whisper_python or args.ref_python
    piper_python = args.piper_python or args.ref_python
    print(f"machine: {machine()}")
    print(
        f"voxgate {__version__}; reference: wyoming-faster-whisper "
        f"{ref_version(whisper_python, 'wyoming-faster-whisper')} (faster-whisper "
        f"{ref_version(whisper_python, 'faster-whisper')}, CTranslate2 "
        f"{ref_version(whisper_python, 'ctranslate2')}), wyoming-piper "
        f"{ref_version(piper_python, 'wyoming-piper')} (piper-tts "
        f"{ref_version(piper_python, 'piper-tts')}, onnxruntime "
        f"{ref_version(piper_python, 'onnxruntime')}); client: wyoming "
        f"{ref_version(sys.executable, 'wyoming')}"
    )
    print(
        f"model {args.model}, int8, cpu_threads={args.threads}, beam={args.beam}; voice "
        f"{VOICE}; {args.runs} pairs per median after a warm-up each; audio "
        f"{'sent at once' if args.burst else 'paced at real time'}"
    )


async def stt_section(args: argparse.Namespace, ref_port: int, vox_port: int | None) -> None:
    print("\ntranscription, AudioStop to Transcript   reference s   voxgate s   ratio")
    texts: dict[str, dict[str, set[str]]] = {}
    for name, pcm in clips().items():

        async def stt(port: int, pcm: bytes = pcm, name: str = name) -> tuple[float]:
            seconds, text = await transcribe(port, pcm, pace=not args.burst)
            side = "reference" if port == ref_port else "voxgate"
            texts.setdefault(name, {}).setdefault(side, set()).add(" ".join(text.split()))
            return (seconds,)

        ref, mine = await pairs(
            lambda: stt(ref_port),
            (lambda: stt(vox_port)) if vox_port else None,
            args.runs,
        )
        print(
            f"  {name} clip ({len(pcm) / 2 / RATE:4.1f} s audio)        "
            f"{fmt_median(ref, 0)}    {fmt_median(mine, 0)}   {fmt_ratio(ref, mine, 0)}"
        )
    for name, sides in texts.items():
        for side, seen in sides.items():
            print(f"  {name}, {side}: {' | '.join(sorted(seen))}")


async def tts_section(args: argparse.Namespace, piper: Server, vox: Server | None) -> None:
    modes = [False]
    if streaming(piper.info) and (vox is None or streaming(vox.info)):
        modes.append(True)
    elif vox is not None:
        print("\n(voxgate does not advertise streamed synthesis: Synthesize only)")
    print(
        "\nspeech, seconds           reference first  total | voxgate first  total"
        " | ratio first  total | audio s ref/vox"
    )
    for streamed in modes:
        for label, text in (("short", SHORT), ("3 sentences", THREE)):

            async def tts(
                port: int, text: str = text, streamed: bool = streamed
            ) -> tuple[float, float, float]:
                speech = await synthesize(port, text, streamed=streamed)
                return (speech.first, speech.total, speech.audio)

            ref, mine = await pairs(
                lambda: tts(piper.port),
                (lambda: tts(vox.port)) if vox else None,
                args.runs,
            )
            kind = "streamed" if streamed else "Synthesize"
            vox_audio = f"{median(mine, 2):.2f}" if mine else "-"
            print(
                f"  {kind:<10} {label:<11}  {fmt_median(ref, 0)} {fmt_median(ref, 1)} |"
                f"     {fmt_median(mine, 0)} {fmt_median(mine, 1)} |"
                f"   {fmt_ratio(ref, mine, 0)} {fmt_ratio(ref, mine, 1)} |"
                f" {median(ref, 2):.2f}/{vox_audio}"
            )


def memory_section(references: list[Server], vox: Server | None) -> None:
    print("\nmemory after both workloads (process trees), MiB    VmRSS   VmHWM     PSS")
    both = {"rss": 0.0, "hwm": 0.0, "pss": 0.0}
    for server in references:
        used = memory_mib(server.process.pid)
        both = {key: both[key] + used[key] for key in both}
        print(f"  {server.name:<44} {used['rss']:7.0f} {used['hwm']:7.0f} {used['pss']:7.0f}")
    print(
        f"  {'the two reference servers together':<44} "
        f"{both['rss']:7.0f} {both['hwm']:7.0f} {both['pss']:7.0f}"
    )
    if vox is not None:
        used = memory_mib(vox.process.pid)
        print(
            f"  {'voxgate (HTTP API and Wyoming, one process)':<44} "
            f"{used['rss']:7.0f} {used['hwm']:7.0f} {used['pss']:7.0f}"
        )
        print(
            f"  {'ratio voxgate / both':<44} {used['rss'] / both['rss']:7.3f} "
            f"{used['hwm'] / both['hwm']:7.3f} {used['pss'] / both['pss']:7.3f}"
        )


async def run(args: argparse.Namespace, work: Path) -> None:
    header(args)
    whisper_dir = resolve_model(args.model, work / "cache")
    voice_dir = resolve_model(VOICE, work / "cache")
    print(f"model files: {whisper_dir}, {voice_dir}")

    whisper, piper = start_reference(args, whisper_dir, voice_dir, work)
    servers = [whisper, piper]
    vox: Server | None = None
    try:
        if not args.reference_only:
            vox = start_voxgate(args, work)
            servers.append(vox)
        for server in servers:
            await wait_ready(server, deadline=time.monotonic() + 300)
        print(f"load average before: {os.getloadavg()[0]:.2f} (other work shares these cores)")
        await stt_section(args, whisper.port, vox.port if vox else None)
        await tts_section(args, piper, vox)
        memory_section([whisper, piper], vox)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        if args.wyoming_bench:
            third_party(args, whisper.port, piper.port, vox.port if vox else None, work)
    finally:
        for server in servers:
            stop(server)


def third_party(
    args: argparse.Namespace, whisper: int, piper: int, vox: int | None, work: Path
) -> None:
    """The same servers through the ``wyoming-bench`` CLI (PyPI), when one is given."""
    corpus = work / "corpus"
    corpus.mkdir()
    shutil.copy(DATA / "en-10s.wav", corpus / "en-10s.wav")
    text = json.loads((DATA / "fixtures.json").read_text())["files"]["en-10s.wav"]["text"]
    (corpus / "en-10s.txt").write_text(text + "\n")
    rounds = str(args.runs)
    stt = [f"{HOST}:{whisper}"] + ([f"{HOST}:{vox}"] if vox else [])
    tts = [f"{HOST}:{piper}"] + ([f"{HOST}:{vox}"] if vox else [])
    for argv in (
        [
            "stt",
            "--corpus",
            str(corpus),
            "--mode",
            "non_streaming",
            "--config",
            '{"language":"en"}',
            "--rounds",
            rounds,
            *stt,
        ],
        ["tts", "--mode", "non_streaming", "--texts", SHORT, THREE, "--rounds", rounds, *tts],
    ):
        print(f"\n$ wyoming-bench {' '.join(argv[:1])} ... (reference, then voxgate)")
        done = subprocess.run(
            [args.wyoming_bench, *argv], capture_output=True, text=True, check=False
        )
        lines = done.stdout.splitlines()
        summary = lines.index(next(line for line in lines if line.startswith("Summary")))
        print("\n".join(lines[summary:]) if done.returncode == 0 else done.stdout + done.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pkg:whisper-tiny.en")
    parser.add_argument("--threads", type=int, default=2, help="CTranslate2 cpu_threads")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--runs", type=int, default=7, help="pairs per median")
    parser.add_argument(
        "--ref-python",
        default="/tmp/wyoming-ref/bin/python",
        help="python of the virtualenv with wyoming-faster-whisper and wyoming-piper",
    )
    parser.add_argument("--whisper-python", help="wyoming-faster-whisper's, if in another venv")
    parser.add_argument("--piper-python", help="wyoming-piper's, if in another venv")
    parser.add_argument("--burst", action="store_true", help="send the audio at once")
    parser.add_argument(
        "--reference-only", action="store_true", help="only the two reference servers"
    )
    parser.add_argument(
        "--wyoming-bench", help="also run this wyoming-bench executable against the servers"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
