"""Test audio: the espeak-ng sentence as realtime clients send it, and PCM wrapped as WAV."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import av
import numpy as np

from voxgate.engines.audio import PcmAudio

DATA = Path(__file__).resolve().parents[1] / "data"


def pcm16_wav(pcm: bytes, rate: int = 24_000) -> bytes:
    """16-bit mono PCM as a WAV file (what the transcription endpoint reads back)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def speech_24k() -> bytes:
    """tests/data/en-10s.wav as 24 kHz pcm16, with a second of silence on each side."""
    with av.open(str(DATA / "en-10s.wav")) as container:
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    samples = np.concatenate(frames).astype(np.float32) / 32768
    audio = PcmAudio(samples, 16_000).resample(24_000).samples
    silence = np.zeros(24_000, dtype=np.float32)
    return PcmAudio(np.concatenate([silence, audio, silence]), 24_000).to_pcm16()
