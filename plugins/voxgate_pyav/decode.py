"""Decode an upload of any container FFmpeg can probe into mono float32 at one rate.

Uploads arrive as bare bytes (the OpenAI SDK names every file ``upload``), so the container is
sniffed from the data, never guessed from a name or content type. Every FFmpeg failure becomes
an ``AudioDecodeError`` with a message a client can act on.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import av
import numpy as np
from av.audio.stream import AudioStream

from voxgate import AudioDecodeError, PcmAudio, PcmStream

if TYPE_CHECKING:
    from collections.abc import Iterator

    from av.audio.frame import AudioFrame
    from av.container import InputContainer
    from av.packet import Packet
    from numpy.typing import NDArray

# OpenAI's own wording, so clients that match on it keep working.
SUPPORTED_FORMATS = ["flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"]
EMPTY_MESSAGE = "The audio file is empty."
INVALID_FORMAT_MESSAGE = f"Invalid file format. Supported formats: {SUPPORTED_FORMATS}"
NO_AUDIO_MESSAGE = "The file contains no audio stream."
UNDECODABLE_MESSAGE = (
    "The audio file could not be decoded: it is truncated, corrupt or has no audio samples."
)

# What PyAV raises for bad input: FFmpeg errors, and plain ValueError/IndexError/OSError from
# its Python layer (a stream without a decoder, unreadable metadata).
_AV_ERRORS = (av.FFmpegError, ValueError, IndexError, OSError, EOFError)

# Scale the downmix so it cannot exceed full scale: stereo becomes the mean of its channels
# (as whisper's ``ffmpeg -ac 1`` to s16 does), not their sum times 0.707.
_DOWNMIX = {"rematrix_maxval": "1.0"}

_BATCH_SAMPLES = 1 << 15  # source samples per resampler call
_BLOCK_SAMPLES = 1 << 20  # 4 MiB of float32 per block: ~65 s at 16 kHz


def decode_audio(
    data: bytes, sample_rate: int, *, max_seconds: float, threads: int = 0
) -> PcmAudio:
    """Decode the best audio stream of ``data`` to mono float32 at ``sample_rate``, all at once.

    Raises ``AudioDecodeError`` for empty, unrecognised or undecodable data, a file without
    audio, and audio longer than ``max_seconds`` (checked while decoding, so a tiny file that
    expands to hours of audio is stopped early). A truncated file yields its decodable prefix.
    """
    if not data:
        raise AudioDecodeError(EMPTY_MESSAGE)
    samples = _Samples()
    for chunk in decoded_chunks(data, sample_rate, max_seconds=max_seconds, threads=threads):
        samples.append(chunk)
    if samples.count == 0:
        raise AudioDecodeError(UNDECODABLE_MESSAGE)
    return PcmAudio(samples.result(), sample_rate)


def open_audio(data: bytes, sample_rate: int, *, max_seconds: float, threads: int = 0) -> PcmStream:
    """``data`` probed now, decoded later: a ``PcmStream`` that decodes as it is read.

    The probe (``probe_seconds``) refuses what ``decode_audio`` would, without decoding more
    than the first audio frame, so a request can be refused or queued before any of its
    audio is held in memory.
    """
    seconds = probe_seconds(data, max_seconds=max_seconds)
    chunks = decoded_chunks(data, sample_rate, max_seconds=max_seconds, threads=threads)
    return PcmStream(chunks, sample_rate, expected_seconds=seconds)


def probe_seconds(data: bytes, *, max_seconds: float) -> float | None:
    """How long the audio in ``data`` is, from its packets, and whether it decodes at all.

    Demuxes every packet (cheap: nothing is decoded but the first frame) and adds up their
    durations, because a header's duration can be an estimate from the bit rate or missing
    (raw ADTS, WebM). Falls back to the header when packets carry no durations, and to
    ``None`` when neither says. Raises ``AudioDecodeError`` as ``decode_audio`` does for
    empty, unrecognised, silent-less or undecodable data, and when the audio is longer than
    ``max_seconds``. ``decoded_chunks`` still enforces ``max_seconds`` sample by sample.
    """
    if not data:
        raise AudioDecodeError(EMPTY_MESSAGE)
    with _open(data) as container:
        stream = _audio_stream(container)
        time_base = stream.time_base
        ticks = max_seconds / time_base if time_base else float("inf")
        total, decodable = _scan(container, stream, ticks)
        if total > ticks:
            raise AudioDecodeError(_too_long(max_seconds))
        if not decodable:
            raise AudioDecodeError(UNDECODABLE_MESSAGE)
        seconds = float(total * time_base) if total and time_base else None
        if seconds is None:
            seconds = _header_seconds(container, stream)
    if seconds is not None and seconds > max_seconds:
        raise AudioDecodeError(_too_long(max_seconds))
    return seconds


def _scan(container: InputContainer, stream: AudioStream, ticks: float) -> tuple[int, bool]:
    """The packets' total duration (stopping once past ``ticks``) and whether any decodes."""
    total = 0
    decodable = False
    try:
        for packet in container.demux(stream):
            total += packet.duration or 0
            if total > ticks:
                break
            if not decodable and packet.size:
                decodable = _decodes(stream, packet)
        if not decodable:
            decodable = any(frame.samples for frame in stream.decode(None))
    except _AV_ERRORS:  # a truncated file: its prefix counts
        pass
    return total, decodable


def _decodes(stream: AudioStream, packet: Packet[AudioStream]) -> bool:
    """Whether ``packet`` gives audio samples (a corrupt packet does not, and is skipped)."""
    try:
        return any(frame.samples for frame in stream.decode(packet))
    except _AV_ERRORS:
        return False


def _header_seconds(container: InputContainer, stream: AudioStream) -> float | None:
    """The duration the container's header states, if any."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def decoded_chunks(
    data: bytes, sample_rate: int, *, max_seconds: float, threads: int = 0
) -> Iterator[NDArray[np.float32]]:
    """The samples of ``data``'s best audio stream, mono float32, a few seconds at a time.

    A generator: nothing is decoded until the first ``next``, and closing it closes the
    container. Raises ``AudioDecodeError`` as soon as the audio passes ``max_seconds``.
    """
    if not data:
        raise AudioDecodeError(EMPTY_MESSAGE)
    limit = int(max_seconds * sample_rate)
    count = 0
    with _open(data) as container:
        stream = _audio_stream(container)
        stream.codec_context.thread_count = threads
        mono = _MonoResampler(sample_rate)
        for out in _resampled(container, stream, mono):
            count += len(out)
            if count > limit:
                raise AudioDecodeError(_too_long(max_seconds))
            yield out


def _resampled(
    container: InputContainer, stream: AudioStream, mono: _MonoResampler
) -> Iterator[NDArray[np.float32]]:
    """Mono float32 batches; any FFmpeg failure left over is an ``AudioDecodeError``."""
    try:
        for frame in _decoded_frames(container, stream):
            yield from mono.push(frame)
        yield from mono.flush()
    except _AV_ERRORS as exc:
        raise AudioDecodeError(UNDECODABLE_MESSAGE) from exc


def _open(data: bytes) -> InputContainer:
    try:
        return av.open(io.BytesIO(data), mode="r", metadata_errors="replace")
    except av.InvalidDataError as exc:  # no demuxer recognises the bytes
        raise AudioDecodeError(INVALID_FORMAT_MESSAGE) from exc
    except _AV_ERRORS as exc:  # recognised, but cut off before the first packet
        raise AudioDecodeError(UNDECODABLE_MESSAGE) from exc


def _too_long(max_seconds: float) -> str:
    return f"The audio is longer than the {_describe(max_seconds)} this server accepts."


def _audio_stream(container: InputContainer) -> AudioStream:
    """FFmpeg's pick of audio stream (in a video file, the one that goes with the video)."""
    try:
        stream = container.streams.best("audio")
    except _AV_ERRORS as exc:
        raise AudioDecodeError(INVALID_FORMAT_MESSAGE) from exc
    if isinstance(stream, AudioStream) and stream.codec_context is not None:
        return stream
    if stream is None and _is_media_container(container):
        raise AudioDecodeError(NO_AUDIO_MESSAGE)
    raise AudioDecodeError(INVALID_FORMAT_MESSAGE)


def _is_media_container(container: InputContainer) -> bool:
    """A real A/V container (a video without sound), not a still image FFmpeg happens to read."""
    name = container.format.name
    return bool(container.streams.video) and not (name.endswith("_pipe") or name == "image2")


def _decoded_frames(container: InputContainer, stream: AudioStream) -> Iterator[AudioFrame]:
    """Frames in order, as the ffmpeg CLI decodes: skip a corrupt packet, stop at a broken tail.

    When demuxing fails part-way (a truncated upload), the decoder is still flushed so the
    prefix decodes completely.
    """
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:  # demux has already sent the decoder its flush packet
            return
        except _AV_ERRORS:
            break
        try:
            frames = packet.decode()
        except _AV_ERRORS:
            continue
        yield from frames
    try:
        frames = stream.decode(None)
    except _AV_ERRORS:
        return
    yield from frames


class _MonoResampler:
    """Downmix and resample to packed float32 mono in one FFmpeg (libswresample) pass.

    Decoders emit small frames (576 samples for MP3 at 24 kHz); a FIFO batches them so the
    resampler runs a few times per second of audio instead of dozens. A stream may change
    layout or rate mid-way (chained Ogg, some MP3s), which PyAV's FIFO and resampler refuse,
    so both are flushed and rebuilt for the new parameters.
    """

    def __init__(self, sample_rate: int) -> None:
        self._rate = sample_rate
        self._fifo = av.AudioFifo()
        self._resampler: av.AudioResampler | None = None
        self._source: tuple[str, str, int] | None = None

    def push(self, frame: AudioFrame) -> list[NDArray[np.float32]]:
        source = (frame.format.name, frame.layout.name, frame.sample_rate)
        out: list[NDArray[np.float32]] = []
        if self._resampler is None or source != self._source:
            out = self.flush()
            self._resampler = av.AudioResampler(
                format="flt", layout="mono", rate=self._rate, options=_DOWNMIX
            )
            self._source = source
        frame.pts = None  # the FIFO would insist on gapless timestamps; order is enough here
        self._fifo.write(frame)
        while self._fifo.samples >= _BATCH_SAMPLES:
            out.extend(self._resample(self._fifo.read(_BATCH_SAMPLES)))
        return out

    def flush(self) -> list[NDArray[np.float32]]:
        if self._resampler is None:
            return []
        out = self._resample(self._fifo.read())
        out.extend(self._resample(None))  # None drains the resampler's delay line
        self._resampler = None
        self._fifo = av.AudioFifo()
        return out

    def _resample(self, frame: AudioFrame | None) -> list[NDArray[np.float32]]:
        if self._resampler is None:  # pragma: no cover - push creates it before any call
            return []
        # A passthrough resampler answers a flush with ``[None]``.
        return [
            np.frombuffer(memoryview(f.planes[0]), dtype=np.float32, count=f.samples)
            for f in self._resampler.resample(frame)
            if f is not None
        ]


class _Samples:
    """Decoded samples copied into large blocks as they arrive, joined once at the end.

    Keeps no per-frame objects alive, so an hour of audio costs the blocks plus one final
    copy: about twice the result, never more.
    """

    def __init__(self) -> None:
        self._blocks: list[NDArray[np.float32]] = []
        self._filled = _BLOCK_SAMPLES
        self.count = 0

    def append(self, samples: NDArray[np.float32]) -> None:
        offset = 0
        while offset < len(samples):
            if self._filled == _BLOCK_SAMPLES:
                self._blocks.append(np.empty(_BLOCK_SAMPLES, dtype=np.float32))
                self._filled = 0
            take = min(len(samples) - offset, _BLOCK_SAMPLES - self._filled)
            self._blocks[-1][self._filled : self._filled + take] = samples[offset : offset + take]
            self._filled += take
            offset += take
        self.count += len(samples)

    def result(self) -> NDArray[np.float32]:
        if not self._blocks:
            return np.zeros(0, dtype=np.float32)
        parts = [*self._blocks[:-1], self._blocks[-1][: self._filled]]
        self._blocks = []
        return np.concatenate(parts)


def _describe(seconds: float) -> str:
    """``4 hours``, ``90 minutes``, ``30 seconds``: a limit as a person reads it."""
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"
