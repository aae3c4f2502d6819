"""Realtime audio formats: 24 kHz pcm16, G.711 μ-law and A-law (8 kHz), to and from float32.

G.711 is ITU-T's companding of 14/13-bit samples into one byte; the tables below are its
standard segment arithmetic, vectorised with numpy (the stdlib ``audioop`` is deprecated).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from voxgate.engines.audio import PcmAudio

if TYPE_CHECKING:
    from numpy.typing import NDArray

AudioFormat = Literal["pcm16", "g711_ulaw", "g711_alaw"]
RATES: dict[str, int] = {"pcm16": 24_000, "g711_ulaw": 8_000, "g711_alaw": 8_000}
BYTES_PER_SAMPLE: dict[str, int] = {"pcm16": 2, "g711_ulaw": 1, "g711_alaw": 1}

# GA names (`{"type": "audio/pcm"}`) and the beta strings, to one internal name.
GA_TYPES: dict[str, AudioFormat] = {
    "audio/pcm": "pcm16",
    "audio/pcmu": "g711_ulaw",
    "audio/pcma": "g711_alaw",
}
GA_NAMES: dict[str, dict[str, object]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24_000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}

_ULAW_BIAS = 0x84


def _ulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    return np.where(codes & 0x80, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(codes & 0x80, magnitude, -magnitude).astype(np.int16)


ULAW_TO_PCM = _ulaw_table()
ALAW_TO_PCM = _alaw_table()


_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _ulaw_encode(pcm: np.ndarray) -> bytes:
    """16-bit samples to μ-law: 14-bit magnitude plus bias, segment, 4-bit mantissa."""
    value = pcm.astype(np.int32) >> 2
    mask = np.where(value < 0, 0x7F, 0xFF)
    value = np.minimum(np.abs(value), 8_159) + (_ULAW_BIAS >> 2)
    segment = np.searchsorted(_ULAW_SEGMENT_ENDS, value)
    code = np.where(segment >= 8, 0x7F, (segment << 4) | ((value >> (segment + 1)) & 0x0F))  # noqa: PLR2004
    return ((code ^ mask) & 0xFF).astype(np.uint8).tobytes()


def _alaw_encode(pcm: np.ndarray) -> bytes:
    """16-bit samples to A-law: 13-bit magnitude, segment, 4-bit mantissa, even bits inverted."""
    value = pcm.astype(np.int32) >> 3
    mask = np.where(value >= 0, 0xD5, 0x55)
    value = np.where(value >= 0, value, -value - 1)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, value)
    mantissa = np.where(segment < 2, value >> 1, value >> np.maximum(segment, 1)) & 0x0F  # noqa: PLR2004
    code = np.where(segment >= 8, 0x7F, (segment << 4) | mantissa)  # noqa: PLR2004
    return ((code ^ mask) & 0xFF).astype(np.uint8).tobytes()


# Sample encodings, as the live transcription protocol names them; the Realtime formats map on.
Encoding = Literal["pcm_s16le", "pcm_f32le", "pcm_mulaw", "pcm_alaw"]
WIDTHS: dict[str, int] = {"pcm_s16le": 2, "pcm_f32le": 4, "pcm_mulaw": 1, "pcm_alaw": 1}
FORMAT_ENCODINGS: dict[str, Encoding] = {
    "pcm16": "pcm_s16le",
    "g711_ulaw": "pcm_mulaw",
    "g711_alaw": "pcm_alaw",
}


def samples(encoding: Encoding, data: bytes) -> NDArray[np.float32]:
    """Whole samples of ``encoding`` as float32 in [-1, 1] (a partial sample is dropped)."""
    raw = data[: len(data) - len(data) % WIDTHS[encoding]]
    if encoding == "pcm_s16le":
        return np.frombuffer(raw, dtype="<i2").astype(np.float32) / np.float32(32_768.0)
    if encoding == "pcm_f32le":
        values = np.frombuffer(raw, dtype="<f4")
        finite = np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=-1.0)
        clipped: NDArray[np.float32] = np.clip(finite, -1.0, 1.0).astype(np.float32)
        return clipped
    table = ULAW_TO_PCM if encoding == "pcm_mulaw" else ALAW_TO_PCM
    return table[np.frombuffer(raw, dtype=np.uint8)].astype(np.float32) / np.float32(32_768.0)


class StreamDecoder:
    """Frames of one encoding to samples; a sample split across two frames is joined, not lost."""

    def __init__(self, encoding: Encoding) -> None:
        self.encoding = encoding
        self._width = WIDTHS[encoding]
        self._rest = b""

    def decode(self, data: bytes) -> NDArray[np.float32]:
        """The whole samples so far; an incomplete one waits for the next frame."""
        if self._rest:
            data = self._rest + data
        usable = len(data) - len(data) % self._width
        self._rest = data[usable:]
        return samples(self.encoding, data[:usable] if usable < len(data) else data)


def decode(audio_format: AudioFormat, data: bytes) -> PcmAudio:
    """Wire bytes to float32 mono at the format's own rate (a partial sample is dropped)."""
    return PcmAudio(samples(FORMAT_ENCODINGS[audio_format], data), RATES[audio_format])


def encode(audio_format: AudioFormat, audio: PcmAudio) -> bytes:
    """Float32 audio (any rate) as the format's wire bytes."""
    audio = audio.resample(RATES[audio_format])
    if audio_format == "pcm16":
        return audio.to_pcm16()
    pcm = np.clip(np.round(audio.samples * 32_768.0), -32_768, 32_767).astype(np.int16)
    return _ulaw_encode(pcm) if audio_format == "g711_ulaw" else _alaw_encode(pcm)


def milliseconds(audio_format: AudioFormat, size: int) -> float:
    """How much audio ``size`` wire bytes hold."""
    return 1000.0 * size / BYTES_PER_SAMPLE[audio_format] / RATES[audio_format]
