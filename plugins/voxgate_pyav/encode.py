"""Streaming encoders for OpenAI's speech formats: mp3, opus, aac, flac, wav and pcm.

One encoder serves one response. Each ``encode`` returns what can be sent now, so the first
sentence reaches the client while later ones are still being synthesized. Compressed formats
go through PyAV into a non-seekable sink (muxers then never seek back to patch headers);
``wav`` and ``pcm`` are written directly, which is simpler and streams byte for byte.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, ClassVar

import av
import numpy as np
import soxr

from voxgate import AudioEncoder, PcmAudio

if TYPE_CHECKING:
    from av.audio.stream import AudioStream
    from av.container import OutputContainer
    from numpy.typing import NDArray

# Ogg pages close every 100 ms of audio (about 5 % overhead at 48 kbit/s). FFmpeg's Ogg muxer
# always keeps the newest complete page back (it may need the end-of-stream flag), so up to
# two pages, ~200 ms, wait for the next chunk or ``finish``.
_OGG_PAGE_MICROSECONDS = "100000"


class _Sink:
    """A write-only, non-seekable file for PyAV: collects bytes until the encoder drains them."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        return len(data)

    def drain(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


class _RateConverter:
    """Continuous resampling of a chunked stream to one output rate.

    Resampling each chunk on its own would click at every chunk boundary; a streaming soxr
    resampler carries its filter state across chunks. A change of input rate flushes the old
    resampler and starts a new one.
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._stream: soxr.ResampleStream | None = None
        self._input_rate = sample_rate

    def convert(self, audio: PcmAudio) -> NDArray[np.float32]:
        head = self.flush() if audio.sample_rate != self._input_rate else None
        self._input_rate = audio.sample_rate
        if audio.sample_rate == self.sample_rate:
            body = audio.samples
        else:
            if self._stream is None:
                self._stream = soxr.ResampleStream(
                    audio.sample_rate, self.sample_rate, 1, dtype="float32", quality="HQ"
                )
            body = np.asarray(self._stream.resample_chunk(audio.samples), dtype=np.float32)
        return body if head is None or len(head) == 0 else np.concatenate([head, body])

    def flush(self) -> NDArray[np.float32]:
        """The resampler's held-back tail; call before a rate change and at the end."""
        stream, self._stream = self._stream, None
        if stream is None:
            return np.zeros(0, dtype=np.float32)
        return np.asarray(stream.resample_chunk(np.zeros(0, np.float32), last=True), np.float32)


class _PyAvEncoder(AudioEncoder):
    """A codec and muxer from PyAV's bundled FFmpeg, writing into a ``_Sink``."""

    muxer: ClassVar[str]
    codec: ClassVar[str]
    bit_rate: ClassVar[int | None] = None
    rates: ClassVar[tuple[int, ...] | None] = None  # None: the codec takes any rate
    muxer_options: ClassVar[dict[str, str]] = {}
    codec_options: ClassVar[dict[str, str]] = {}

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = self.output_rate(sample_rate)
        self._resampler = _RateConverter(self.sample_rate)
        self._sink = _Sink()
        # flush_packets: every muxed packet reaches the sink at once, not when 32 KiB pile up.
        options = {**self.muxer_options, "flush_packets": "1"}
        self._container: OutputContainer = av.open(
            self._sink, mode="w", format=self.muxer, container_options=options
        )
        stream = self._container.add_stream(
            self.codec, rate=self.sample_rate, options=dict(self.codec_options)
        )
        if not isinstance(stream, av.AudioStream):  # pragma: no cover - every codec is audio
            msg = f"{self.codec} is not an audio codec"
            raise TypeError(msg)
        stream.layout = "mono"
        if self.bit_rate is not None:
            stream.bit_rate = self.bit_rate
        self._stream: AudioStream = stream
        self._time_base = Fraction(1, self.sample_rate)
        self._pts = 0
        self._finished = False

    @classmethod
    def output_rate(cls, requested: int) -> int:
        """The nearest rate the codec supports at or above ``requested`` (else its highest)."""
        if requested <= 0:
            msg = f"sample_rate must be positive, got {requested}"
            raise ValueError(msg)
        if cls.rates is None:
            return requested
        return min((r for r in cls.rates if r >= requested), default=max(cls.rates))

    def encode(self, audio: PcmAudio) -> bytes:
        self._check_open()
        self._write(self._resampler.convert(audio))
        return self._sink.drain()

    def finish(self) -> bytes:
        if self._finished:
            return b""
        self._write(self._resampler.flush())
        self._finished = True
        self._container.mux(self._stream.encode(None))
        self._container.close()
        return self._sink.drain()

    def _check_open(self) -> None:
        if self._finished:
            msg = "the encoder is finished"
            raise RuntimeError(msg)

    def _write(self, samples: NDArray[np.float32]) -> None:
        if len(samples) == 0:
            return
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.time_base = self._time_base
        frame.pts = self._pts
        self._pts += len(samples)
        # PyAV converts to the codec's sample format and cuts its frame size itself.
        self._container.mux(self._stream.encode(frame))


class Mp3Encoder(_PyAvEncoder):
    """MPEG-1/2 layer III frames with no Xing/LAME header (that needs a seek back) or ID3 tag."""

    media_type: ClassVar[str] = "audio/mpeg"
    muxer = "mp3"
    codec = "libmp3lame"
    bit_rate = 64_000
    rates = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
    muxer_options: ClassVar[dict[str, str]] = {"write_xing": "0", "id3v2_version": "0"}
    # LAME's -q 7: three times faster than its default, no audible loss for speech at 64k
    codec_options: ClassVar[dict[str, str]] = {"compression_level": "7"}


class OpusEncoder(_PyAvEncoder):
    """Ogg Opus at 48 kHz, the rate every Opus decoder plays at, in short pages."""

    media_type: ClassVar[str] = "audio/ogg"
    muxer = "ogg"
    codec = "libopus"
    bit_rate = 48_000
    rates = (48000,)
    muxer_options: ClassVar[dict[str, str]] = {"page_duration": _OGG_PAGE_MICROSECONDS}


class AacEncoder(_PyAvEncoder):
    """AAC-LC in ADTS frames: every frame carries its own header, so it streams."""

    media_type: ClassVar[str] = "audio/aac"
    muxer = "adts"
    codec = "aac"
    bit_rate = 64_000
    rates = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200)


class FlacEncoder(_PyAvEncoder):
    """A FLAC stream; its STREAMINFO says "length unknown", as it cannot be patched later."""

    media_type: ClassVar[str] = "audio/flac"
    muxer = "flac"
    codec = "flac"


class PcmEncoder(AudioEncoder):
    """Raw signed 16-bit little-endian mono, no header."""

    media_type: ClassVar[str] = "audio/pcm"

    def __init__(self, sample_rate: int) -> None:
        if sample_rate <= 0:
            msg = f"sample_rate must be positive, got {sample_rate}"
            raise ValueError(msg)
        self.sample_rate = sample_rate
        self._resampler = _RateConverter(sample_rate)
        self._finished = False

    def encode(self, audio: PcmAudio) -> bytes:
        if self._finished:
            msg = "the encoder is finished"
            raise RuntimeError(msg)
        return self._header() + self._pcm16(self._resampler.convert(audio))

    def finish(self) -> bytes:
        if self._finished:
            return b""
        self._finished = True
        return self._header() + self._pcm16(self._resampler.flush())

    def _header(self) -> bytes:
        return b""

    def _pcm16(self, samples: NDArray[np.float32]) -> bytes:
        return PcmAudio(samples, self.sample_rate).to_pcm16()


class WavEncoder(PcmEncoder):
    """One RIFF header, sized "unknown" (as streaming servers send), then 16-bit PCM.

    The length is not known when the header goes out, so the sizes are the largest values;
    players read to the end of the stream.
    """

    media_type: ClassVar[str] = "audio/wav"

    def __init__(self, sample_rate: int) -> None:
        super().__init__(sample_rate)
        self._header_sent = False

    def _header(self) -> bytes:
        if self._header_sent:
            return b""
        self._header_sent = True
        return wav_header(self.sample_rate)


def wav_header(sample_rate: int) -> bytes:
    """A 44-byte header for 16-bit mono PCM of unknown length."""
    data_size = 0xFFFFFFFF - 36
    return b"".join(
        [
            b"RIFF",
            (data_size + 36).to_bytes(4, "little"),
            b"WAVEfmt ",
            (16).to_bytes(4, "little"),  # fmt chunk size
            (1).to_bytes(2, "little"),  # PCM
            (1).to_bytes(2, "little"),  # mono
            sample_rate.to_bytes(4, "little"),
            (sample_rate * 2).to_bytes(4, "little"),  # byte rate
            (2).to_bytes(2, "little"),  # block align
            (16).to_bytes(2, "little"),  # bits per sample
            b"data",
            data_size.to_bytes(4, "little"),
        ]
    )


ENCODERS: dict[str, type[_PyAvEncoder | PcmEncoder]] = {
    "mp3": Mp3Encoder,
    "opus": OpusEncoder,
    "aac": AacEncoder,
    "flac": FlacEncoder,
    "wav": WavEncoder,
    "pcm": PcmEncoder,
}


def make_encoder(audio_format: str, sample_rate: int) -> AudioEncoder:
    """A fresh encoder for one response; ``ValueError`` for a format not in ``ENCODERS``."""
    cls = ENCODERS.get(audio_format)
    if cls is None:
        msg = f"unsupported audio format {audio_format!r}; expected one of {sorted(ENCODERS)}"
        raise ValueError(msg)
    return cls(sample_rate)
