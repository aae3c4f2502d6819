"""Generate the speech-to-text test fixtures in this directory.

This script was run once; its outputs are committed next to it and CI never runs it. It is kept
so the fixtures can be understood and remade. It needs the ``espeak-ng`` command (with its English
and Spanish voices) and PyAV built with libmp3lame, libopus, flac and aac encoders::

    python tests/data/make_stt_fixtures.py

It writes, all 16 kHz mono:

* ``en-10s.wav`` (s16 PCM) and the same clip as ``en-10s.mp3``, ``en-10s.opus`` (Ogg Opus),
  ``en-10s.flac`` and ``en-10s.m4a`` (AAC in MP4): about 10 s of English, several different
  sentences (Whisper tiny loops on repeated ones).
* ``es-8s.opus``: Spanish speech, for language detection and translation.
* ``long-2min.opus``: two minutes of English utterances separated by long stretches of
  near-silence (very low-level white noise), for voice activity detection and timestamps.
* ``fixtures.json``: per file, the exact text spoken, its language, decoded duration in seconds and,
  for the long clip, each utterance's ``[start, end]`` interval in seconds with its text.

espeak-ng's output is deterministic, but Ogg stream serial numbers are random and encoders change
across FFmpeg versions, so a remake differs byte for byte; texts and utterance intervals stay the
same. The texts were picked by listening with faster-whisper: tiny.en transcribes every English
file without error, and Whisper base detects Spanish on ``es-8s.opus`` and transcribes it exactly.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import wave
from pathlib import Path

import av
import numpy as np

HERE = Path(__file__).parent
RATE = 16000
SPEED_WPM = 155  # espeak-ng -s
SPEECH_THRESHOLD = 300  # |s16 sample| above this counts as speech when trimming and timing
EDGE_PAD_S = 0.25  # silence kept before and after speech in the short clips

EN_VOICE = "en-us+m3"  # the m3 variant: tiny.en made no errors on it, a few on plain en-us
EN_TEXT = (
    "The weather was warm and sunny, so we opened all the windows. "
    "My sister bought a small red car last week. "
    "After lunch we walked slowly to the library."
)

ES_VOICE = "es"
ES_TEXT = (
    "Hoy hace mucho calor en la ciudad. "
    "Por la tarde fuimos a la playa con nuestros amigos. "
    "Después comimos pescado en un restaurante."
)

LONG_TOTAL_S = 120.0
LONG_LEAD_S = 1.5
LONG_NOISE_RMS = 8.0  # s16 units: about -72 dBFS, well under any speech
# (silence after the utterance in seconds, text); after the last one, silence fills up to
# LONG_TOTAL_S. Tiny.en misheard plurals and a few words here, so these avoid them.
LONG_UTTERANCES: list[tuple[float, str]] = [
    (8.0, "Good morning, and thank you all for coming to the meeting so early."),
    (11.5, "First we need to talk about the garden behind the office building."),
    (4.0, "The old tree near the fence should be cut down before the winter."),
    (10.0, "Please write down your ideas before the end of the week."),
    (6.5, "The coffee machine in the kitchen is broken again, and nobody knows why."),
    (12.0, "Somebody will come to repair it tomorrow afternoon."),
    (5.0, "We also want to paint the hallway in a lighter color this spring."),
    (9.5, "A new table for the meeting room will arrive next month."),
    (7.5, "If you have any questions, please ask them today or write to me later."),
    (0.0, "Thank you, and have a pleasant weekend."),
]

# name -> (codec, sample format, bit rate or None for lossless)
ENCODINGS: dict[str, tuple[str, str, int | None]] = {
    "mp3": ("libmp3lame", "s16p", 48_000),
    "opus": ("libopus", "s16", 24_000),
    "flac": ("flac", "s16", None),
    "m4a": ("aac", "fltp", 48_000),
}


def speak(text: str, voice: str) -> np.ndarray:
    """Synthesize ``text`` with espeak-ng and return 16 kHz mono s16 samples."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(SPEED_WPM), "-w", str(path), text],
            check=True,
        )
        with wave.open(str(path), "rb") as wav:
            assert wav.getnchannels() == 1
            assert wav.getsampwidth() == 2
            source_rate = wav.getframerate()
            samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return resample(samples, source_rate)


def resample(samples: np.ndarray, source_rate: int) -> np.ndarray:
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = source_rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    out = [
        f.to_ndarray().reshape(-1) for f in (*resampler.resample(frame), *resampler.resample(None))
    ]
    return np.concatenate(out).astype(np.int16)


def speech_bounds(samples: np.ndarray) -> tuple[int, int]:
    """First and one-past-last sample index louder than SPEECH_THRESHOLD."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > SPEECH_THRESHOLD)
    assert loud.size, "espeak-ng produced silence"
    return int(loud[0]), int(loud[-1]) + 1


def trim(samples: np.ndarray, pad_s: float = EDGE_PAD_S) -> np.ndarray:
    start, end = speech_bounds(samples)
    pad = np.zeros(round(pad_s * RATE), dtype=np.int16)
    return np.concatenate([pad, samples[start:end], pad])


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(samples.astype("<i2").tobytes())


def encode(path: Path, samples: np.ndarray, codec: str, fmt: str, bit_rate: int | None) -> None:
    """Encode s16 mono samples with PyAV; the codec context re-chunks to its frame size."""
    with av.open(str(path), "w", format="ogg" if codec == "libopus" else None) as container:
        stream = container.add_stream(codec, rate=RATE, layout="mono", format=fmt)
        if bit_rate:
            stream.bit_rate = bit_rate
        step = 4096
        for offset in range(0, len(samples), step):
            chunk = samples[offset : offset + step].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
            frame.sample_rate = RATE
            frame.pts = offset
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def decoded_duration(path: Path) -> float:
    """Duration of ``path`` as a decoder sees it, from the samples it yields."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.codec_context.sample_rate


def build_long() -> tuple[np.ndarray, list[dict[str, object]]]:
    """The long clip: utterances over low noise, and each utterance's interval in seconds."""
    pieces = [np.zeros(round(LONG_LEAD_S * RATE), dtype=np.int16)]
    position = len(pieces[0])
    utterances: list[dict[str, object]] = []
    for index, (gap_s, text) in enumerate(LONG_UTTERANCES):
        speech = speak(text, EN_VOICE)
        start, end = speech_bounds(speech)
        speech = speech[start:end]
        utterances.append(
            {
                "start": round(position / RATE, 3),
                "end": round((position + len(speech)) / RATE, 3),
                "text": text,
            }
        )
        pieces.append(speech)
        position += len(speech)
        if index < len(LONG_UTTERANCES) - 1:
            pieces.append(np.zeros(round(gap_s * RATE), dtype=np.int16))
            position += len(pieces[-1])
    tail = round(LONG_TOTAL_S * RATE) - position
    assert 2 * RATE <= tail <= 12 * RATE, f"trailing silence of {tail / RATE:.1f} s"
    pieces.append(np.zeros(tail, dtype=np.int16))
    clip = np.concatenate(pieces).astype(np.float64)
    clip += np.random.default_rng(20240601).normal(0.0, LONG_NOISE_RMS, clip.size)
    return np.clip(np.round(clip), -32768, 32767).astype(np.int16), utterances


def main() -> None:
    version = subprocess.run(
        ["espeak-ng", "--version"], check=True, capture_output=True, text=True
    ).stdout.strip()
    files: dict[str, dict[str, object]] = {}

    english = trim(speak(EN_TEXT, EN_VOICE))
    write_wav(HERE / "en-10s.wav", english)
    files["en-10s.wav"] = {"text": EN_TEXT, "language": "en", "voice": EN_VOICE}
    for ext, (codec, fmt, bit_rate) in ENCODINGS.items():
        encode(HERE / f"en-10s.{ext}", english, codec, fmt, bit_rate)
        files[f"en-10s.{ext}"] = {"text": EN_TEXT, "language": "en", "voice": EN_VOICE}

    spanish = trim(speak(ES_TEXT, ES_VOICE))
    encode(HERE / "es-8s.opus", spanish, "libopus", "s16", 32_000)
    files["es-8s.opus"] = {"text": ES_TEXT, "language": "es", "voice": ES_VOICE}

    long_clip, utterances = build_long()
    encode(HERE / "long-2min.opus", long_clip, "libopus", "s16", 24_000)
    files["long-2min.opus"] = {
        "text": " ".join(text for _, text in LONG_UTTERANCES),
        "language": "en",
        "voice": EN_VOICE,
        "utterances": utterances,
    }

    for name, entry in files.items():
        entry["duration"] = round(decoded_duration(HERE / name), 3)
        entry["bytes"] = (HERE / name).stat().st_size
    manifest = {
        "generator": "tests/data/make_stt_fixtures.py",
        "espeak_ng": version,
        "speed_wpm": SPEED_WPM,
        "sample_rate": RATE,
        "channels": 1,
        "files": files,
    }
    (HERE / "fixtures.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
