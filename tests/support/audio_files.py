"""Audio files made with PyAV for the tests and benches: every container, and long silence.

Nothing is downloaded: each file is encoded on the spot. ``encode`` writes a tone (or
silence) in one of ``CONTAINERS``; ``silence`` writes hours of silence cheaply, the tiny file
that expands to gigabytes of samples.
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np

# name -> (PyAV format, codec, sample rate): what this PyAV can write, one per container
CONTAINERS: dict[str, tuple[str, str, int]] = {
    "wav": ("wav", "pcm_s16le", 16_000),
    "flac": ("flac", "flac", 16_000),
    "mp3": ("mp3", "libmp3lame", 16_000),
    "ogg-opus": ("ogg", "libopus", 48_000),
    "webm": ("webm", "libopus", 48_000),
    "m4a": ("ipod", "aac", 16_000),
    "adts": ("adts", "aac", 16_000),
}

_STEP_SECONDS = 10


def encode(name: str, seconds: float, *, frequency: float = 440.0) -> bytes:
    """``seconds`` of a tone (``frequency=0``: silence) in container ``name``."""
    fmt, codec, rate = CONTAINERS[name]
    return _encode(fmt, codec, rate, seconds, frequency)


def silence(fmt: str, codec: str, rate: int, seconds: float) -> bytes:
    """``seconds`` of silence: a few kilobytes a minute in FLAC, hours in a few megabytes."""
    return _encode(fmt, codec, rate, seconds, 0.0)


def _encode(fmt: str, codec: str, rate: int, seconds: float, frequency: float) -> bytes:
    buffer = io.BytesIO()
    total = round(seconds * rate)
    with av.open(buffer, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        step = _STEP_SECONDS * rate
        for begin in range(0, total, step):
            count = min(step, total - begin)
            t = np.arange(begin, begin + count, dtype=np.float64) / rate
            wave = 0.3 * np.sin(2 * np.pi * frequency * t) if frequency else np.zeros(count)
            frame = av.AudioFrame.from_ndarray(
                (wave * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
            )
            frame.sample_rate, frame.pts, frame.time_base = rate, begin, Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()
