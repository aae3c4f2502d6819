"""Live transcription latency: the a15t WebSocket against faster-whisper on the same utterances.

    python bench/realtime.py                                  # whisper-base, 2 threads
    python bench/realtime.py --model pkg:whisper-tiny.en --passes 3
    python bench/realtime.py --partial-ms 0                   # finals only
    python bench/realtime.py --protocol openai                # /v1/realtime transcription

The server is a real ``voxgate serve`` on loopback with one faster-whisper instance (the same
config as bench/stt.py). The client streams the first utterances of
tests/data/long-2min.opus, each followed by 2 s of silence, paced in real time (100 ms of
16 kHz s16le per frame) to ``/v1/audio/transcriptions-realtime``, and reads every message.

Per utterance and pass: **latency**, from sending the frame holding its last speech to
receiving its FinalTranscript; **raw**, faster-whisper's time in this process on the audio the
server decodes for it (the speech, 300 ms of padding before, 160 ms after), with the same
model directory, threads, beam and word timestamps, best of 2 right after the pass (a shared
machine drifts; the two sides are compared at the same moment). Goal: latency <= 1.3 x raw +
``silence_duration_ms``. Also: partials per utterance and the interval between two of them.
With ``--protocol openai`` the same audio (as 24 kHz pcm16, 100 ms per append) goes to the
OpenAI Realtime API (``/v1/realtime?intent=transcription``, ``server_vad``), and latency runs to
the turn's ``conversation.item.input_audio_transcription.completed`` (no partials there).
Results go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stt import DATA, Raw, decode, resolve_model, start_server
from wer import wer

RATE = 16_000
FRAME = RATE // 10  # 100 ms per frame
GAP_S = 2.0
LEAD_S = 1.0
PAD_BEFORE_S = 0.3  # the session's default prefix padding
PAD_AFTER_S = 0.16  # live.TAIL_MS


@dataclass
class Utterance:
    text: str
    start: float  # speech start and end in the stream, seconds
    end: float
    raw: list[float] = field(default_factory=list)  # one per pass, measured after it
    latencies: list[float] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)


def build_stream(count: int) -> tuple[np.ndarray, list[Utterance]]:
    """The utterances with their own audio context, 2 s of silence after each."""
    fixture = json.loads((DATA / "fixtures.json").read_text())["files"]["long-2min.opus"]
    source = decode(DATA / "long-2min.opus")
    parts = [np.zeros(round(LEAD_S * RATE), np.float32)]
    position = LEAD_S
    utterances = []
    for item in fixture["utterances"][:count]:
        begin = max(0, round((item["start"] - 0.2) * RATE))
        end = round((item["end"] + 0.2) * RATE)
        piece = source[begin:end]
        speech_start = position + item["start"] - begin / RATE
        speech_end = position + item["end"] - begin / RATE
        utterances.append(Utterance(item["text"], speech_start, speech_end))
        parts += [piece, np.zeros(round(GAP_S * RATE), np.float32)]
        position += len(piece) / RATE + GAP_S
    return np.concatenate(parts), utterances


def raw_times(
    raw: Raw,
    stream: np.ndarray,
    utterances: list[Utterance],
    beam: int,
    *,
    record: bool = True,
    words: bool = True,
) -> None:
    """The engine alone on each utterance (best of 2), right after a pass: same machine state."""
    for utterance in utterances:
        begin = round((utterance.start - PAD_BEFORE_S) * RATE)
        audio = stream[begin : round((utterance.end + PAD_AFTER_S) * RATE)]
        times = []
        for _ in range(2):
            started = time.perf_counter()
            segments, _ = raw.model.transcribe(audio, beam_size=beam, word_timestamps=words)
            list(segments)
            times.append(time.perf_counter() - started)
        if record:
            utterance.raw.append(min(times))


def stream_once(
    base: str, stream: np.ndarray, utterances: list[Utterance], silence_ms: int, partial_ms: int
) -> tuple[int, list[float]]:
    """One real-time pass; fills each utterance's latency; the partials and their intervals."""
    from websockets.sync.client import connect

    pcm = (np.clip(stream, -1, 1) * 32767).astype("<i2").tobytes()
    frames = [pcm[i : i + 2 * FRAME] for i in range(0, len(pcm), 2 * FRAME)]
    url = base.replace("http://", "ws://") + "/v1/audio/transcriptions-realtime?model=bench"
    messages: list[tuple[float, dict[str, object]]] = []
    sent_at: list[float] = []
    with connect(url, max_size=None) as socket:
        config = {
            "sample_rate": RATE,
            "silence_duration_ms": silence_ms,
            "partial_interval_ms": partial_ms,
        }
        socket.send(json.dumps(config))

        def send() -> None:
            started = time.perf_counter()
            for index, frame in enumerate(frames):
                delay = started + index * FRAME / RATE - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                socket.send(frame)
                sent_at.append(time.perf_counter())
            socket.send(json.dumps({"done": True}))

        sender = threading.Thread(target=send)
        sender.start()
        messages.extend((time.perf_counter(), json.loads(message)) for message in socket)
        sender.join()
    finals = [(t, m) for t, m in messages if m["message_type"] == "FinalTranscript"]
    if len(finals) != len(utterances):
        print(f"  warning: {len(finals)} finals for {len(utterances)} utterances")
    intervals: list[float] = []
    previous: float | None = None
    partials = 0
    for arrived, message in messages:
        if message["message_type"] == "PartialTranscript":
            partials += 1
            if previous is not None:
                intervals.append(arrived - previous)
            previous = arrived
        else:
            previous = None
    for utterance in utterances:
        match = min(finals, key=lambda f: abs(int(f[1]["audio_end"]) / 1000 - utterance.end))
        last_frame = min(int(utterance.end * RATE) // FRAME, len(sent_at) - 1)
        utterance.latencies.append(match[0] - sent_at[last_frame])
        utterance.transcripts.append(str(match[1]["text"]))
    return partials, intervals


def stream_once_openai(
    base: str, stream: np.ndarray, utterances: list[Utterance], silence_ms: int
) -> tuple[int, list[float]]:
    """One real-time pass over the OpenAI Realtime API; fills each utterance's latency."""
    import base64

    from websockets.sync.client import connect

    from voxgate.engines.audio import PcmAudio

    pcm = PcmAudio(np.clip(stream, -1, 1).astype(np.float32), RATE).resample(24_000).to_pcm16()
    step = 2 * 2_400  # 100 ms of 24 kHz pcm16
    frames = [pcm[i : i + step] for i in range(0, len(pcm), step)]
    url = base.replace("http://", "ws://") + "/v1/realtime?intent=transcription"
    events: list[tuple[float, dict[str, object]]] = []
    sent_at: list[float] = []
    session = {
        "type": "transcription",
        "audio": {
            "input": {
                "transcription": {"model": "bench"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": silence_ms},
            }
        },
    }
    with connect(url, max_size=None) as socket:
        socket.send(json.dumps({"type": "session.update", "session": session}))

        def send() -> None:
            started = time.perf_counter()
            for index, frame in enumerate(frames):
                delay = started + index * 0.1 - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                audio = base64.b64encode(frame).decode()
                socket.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
                sent_at.append(time.perf_counter())

        sender = threading.Thread(target=send)
        sender.start()
        stops = 0
        completed = 0
        while sender.is_alive() or completed < stops:
            try:
                event = json.loads(socket.recv(timeout=1))
            except TimeoutError:
                continue
            events.append((time.perf_counter(), event))
            stops += event["type"] == "input_audio_buffer.speech_stopped"
            completed += event["type"] == "conversation.item.input_audio_transcription.completed"
        sender.join()
    ends = {
        str(e["item_id"]): int(str(e["audio_end_ms"])) / 1000
        for _, e in events
        if e["type"] == "input_audio_buffer.speech_stopped"
    }
    finals = [
        (t, ends[str(e["item_id"])], str(e["transcript"]))
        for t, e in events
        if e["type"] == "conversation.item.input_audio_transcription.completed"
    ]
    if len(finals) != len(utterances):
        print(f"  warning: {len(finals)} turns for {len(utterances)} utterances")
    for utterance in utterances:
        arrived, _, text = min(finals, key=lambda f: abs(f[1] - utterance.end))
        last_frame = min(int(utterance.end * 10), len(sent_at) - 1)
        utterance.latencies.append(arrived - sent_at[last_frame])
        utterance.transcripts.append(text)
    return 0, []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pkg:whisper-base")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--utterances", type=int, default=5)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--silence-ms", type=int, default=500)
    parser.add_argument("--partial-ms", type=int, default=1000, help="0: no partials")
    parser.add_argument("--protocol", choices=["a15t", "openai"], default="a15t")
    args = parser.parse_args()

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print(
        f"model {args.model}, int8, cpu_threads={args.threads}, beam={args.beam}, word "
        f"timestamps, silence_duration_ms={args.silence_ms}, partial_interval_ms={args.partial_ms}"
    )
    stream, utterances = build_stream(args.utterances)
    print(f"stream: {len(stream) / RATE:.1f} s, {len(utterances)} utterances, paced in real time")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        raw = Raw(resolve_model(args.model, cache), args.threads, 1, args.beam)
        raw_times(raw, stream, utterances, args.beam, record=False)  # warm-up
        process, base = start_server(
            args.model,
            threads=args.threads,
            workers=1,
            beam=args.beam,
            concurrency=1,
            cache=cache,
        )
        intervals: list[float] = []
        partials = 0
        try:
            for _ in range(args.passes):
                if args.protocol == "openai":
                    sent, gaps = stream_once_openai(base, stream, utterances, args.silence_ms)
                else:
                    sent, gaps = stream_once(
                        base, stream, utterances, args.silence_ms, args.partial_ms
                    )
                partials += sent
                intervals += gaps
                # the a15t socket asks for word times; the Realtime API's transcripts have none
                raw_times(raw, stream, utterances, args.beam, words=args.protocol == "a15t")
        finally:
            process.terminate()
            process.wait(timeout=30)

    silence = args.silence_ms / 1000
    print(
        "\nutterance  speech s   raw s (passes)   final latency s (passes)   "
        "(latency - silence) / raw (passes)   WER"
    )
    ratios = []
    for number, utterance in enumerate(utterances, 1):
        pairs = [
            (latency - silence) / raw_s
            for latency, raw_s in zip(utterance.latencies, utterance.raw, strict=True)
        ]
        ratios += pairs
        errors = statistics.mean(wer(utterance.text, t) for t in utterance.transcripts)
        print(
            f"  {number:<8} {utterance.end - utterance.start:8.2f}   {_list(utterance.raw)}   "
            f"{_list(utterance.latencies)}   {_list(pairs)}   {errors:.2f}"
        )
    met = sum(ratio <= 1.3 for ratio in ratios)  # noqa: PLR2004
    print(
        f"\n(latency - silence) / raw: median {statistics.median(ratios):.2f}, max "
        f"{max(ratios):.2f}; goal <= 1.3 met by {met} of {len(ratios)}"
    )
    count = len(utterances) * args.passes
    print(f"partials: {partials} for {count} utterances ({partials / count:.1f} each)", end="")
    if intervals:
        print(
            f"; between two of the same utterance: median {statistics.median(intervals):.2f} s, "
            f"p90 {np.percentile(intervals, 90):.2f} s ({len(intervals)} intervals)"
        )
    else:
        print()


def _list(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


if __name__ == "__main__":
    main()
