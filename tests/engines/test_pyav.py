"""The ``pyav`` transcoder: decode every upload container, stream-encode every speech format.

All audio is generated here with PyAV itself (a 440 Hz tone in each container), so nothing is
downloaded and every codec path of the bundled FFmpeg is exercised.
"""

from __future__ import annotations

import contextlib
import io
import struct
import time
import tracemalloc
import zlib
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import msgspec
import numpy as np
import pytest

import voxgate_pyav
from voxgate import AudioDecodeError, ComponentContext, PcmAudio, windows
from voxgate.plugins.hooks import Hooks
from voxgate.plugins.manager import make_plugin_manager
from voxgate.testing.fakes import tone
from voxgate_pyav import PyAvConfig, PyAvTranscoder, decode
from voxgate_pyav.decode import (
    EMPTY_MESSAGE,
    INVALID_FORMAT_MESSAGE,
    NO_AUDIO_MESSAGE,
    UNDECODABLE_MESSAGE,
    _Samples,
)
from voxgate_pyav.encode import ENCODERS, FlacEncoder, Mp3Encoder, OpusEncoder, wav_header

RATE = 16_000
FREQ = 440.0


def _transcoder(**config: Any) -> PyAvTranscoder:
    context = ComponentContext(instance="test", cache_dir=Path(), resolve_model_path=Path)
    return PyAvTranscoder(msgspec.convert(config, PyAvConfig), context)


@pytest.fixture(scope="module")
def transcoder() -> PyAvTranscoder:
    return _transcoder()


def _sine(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * FREQ * t)).astype(np.float32)
    return np.tile(wave, (channels, 1))


def _encode_file(
    muxer: str,
    codec: str,
    rate: int,
    *,
    channels: int = 1,
    seconds: float = 1.0,
    options: dict[str, str] | None = None,
    video: str | None = None,
    audio: bool = True,
) -> bytes:
    """A complete file: ``seconds`` of tone in ``codec`` inside ``muxer``, optionally with video."""
    buffer = io.BytesIO()  # seekable, so mp4 can write its index at the end
    with av.open(buffer, mode="w", format=muxer) as container:
        vstream = container.add_stream(video, rate=10) if video is not None else None
        astream = container.add_stream(codec, rate=rate, options=options or {}) if audio else None
        assert vstream is None or isinstance(vstream, av.VideoStream)
        assert astream is None or isinstance(astream, av.AudioStream)
        if astream is not None:  # the codecs open at the first mux: set everything first
            astream.layout = "mono" if channels == 1 else "stereo"
        if vstream is not None:
            vstream.width = vstream.height = 64
            vstream.pix_fmt = "yuv420p"
            for index in range(round(seconds * 10)):
                image = np.full((64, 64, 3), index * 20, dtype=np.uint8)
                vframe = av.VideoFrame.from_ndarray(image, format="rgb24")
                vframe.pts = index
                container.mux(vstream.encode(vframe))
            container.mux(vstream.encode(None))
        if astream is not None:
            frame = av.AudioFrame.from_ndarray(
                _sine(seconds, rate, channels), format="fltp", layout=astream.layout
            )
            frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
            container.mux(astream.encode(frame))
            container.mux(astream.encode(None))
    return buffer.getvalue()


def _dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


def _png() -> bytes:
    """A real 1x1 PNG, which FFmpeg can read, as an image."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


# -- decoding ----------------------------------------------------------------------------------

# name: (muxer, codec, rate, channels, codec options, video codec, codec padding in seconds)
DECODE_CASES: dict[str, tuple[str, str, int, int, dict[str, str] | None, str | None, float]] = {
    "wav-pcm16": ("wav", "pcm_s16le", 24_000, 1, None, None, 0.0),
    "wav-float": ("wav", "pcm_f32le", 16_000, 1, None, None, 0.0),  # already what is wanted
    "mp3": ("mp3", "libmp3lame", 24_000, 1, None, None, 0.1),
    "ogg-opus": ("ogg", "libopus", 48_000, 1, None, None, 0.0),
    # FFmpeg's own Vorbis encoder is experimental and stereo only
    "ogg-vorbis": ("ogg", "vorbis", 44_100, 2, {"strict": "experimental"}, None, 0.05),
    "flac": ("flac", "flac", 24_000, 1, None, None, 0.0),
    "m4a-aac": ("ipod", "aac", 24_000, 1, None, None, 0.1),
    "webm-opus": ("webm", "libopus", 48_000, 1, None, None, 0.0),
    "aiff": ("aiff", "pcm_s16be", 22_050, 1, None, None, 0.0),
    "wav-stereo-44k": ("wav", "pcm_s16le", 44_100, 2, None, None, 0.0),
    "mp4-video-aac": ("mp4", "aac", 44_100, 2, None, "mpeg4", 0.1),
    "mkv-video-flac": ("matroska", "flac", 48_000, 2, None, "mpeg4", 0.0),
}


@pytest.mark.parametrize("name", list(DECODE_CASES))
def test_decodes_container(transcoder: PyAvTranscoder, name: str) -> None:
    muxer, codec, rate, channels, options, video, padding = DECODE_CASES[name]
    data = _encode_file(muxer, codec, rate, channels=channels, options=options, video=video)

    audio = transcoder.decode(data, RATE)

    assert audio.sample_rate == RATE
    assert audio.samples.dtype == np.float32
    assert audio.samples.ndim == 1
    assert abs(audio.duration - 1.0) <= 0.05 + padding, audio.duration
    assert abs(_dominant_hz(audio.samples, RATE) - FREQ) < 5
    # a stereo downmix is the mean of the channels: the tone keeps its level
    rms = float(np.sqrt(np.mean(audio.samples[RATE // 10 : -RATE // 10] ** 2)))
    assert rms == pytest.approx(0.3 / np.sqrt(2), rel=0.15)


def test_decodes_to_the_requested_rate(transcoder: PyAvTranscoder) -> None:
    data = _encode_file("flac", "flac", 48_000)
    for rate in (8_000, 16_000, 24_000, 48_000):
        audio = transcoder.decode(data, rate)
        assert audio.sample_rate == rate
        assert len(audio) == pytest.approx(rate, abs=2)


def test_truncated_file_yields_its_prefix(transcoder: PyAvTranscoder) -> None:
    data = _encode_file("mp3", "libmp3lame", 24_000, seconds=4.0)
    audio = transcoder.decode(data[: len(data) // 2], RATE)
    assert 1.5 < audio.duration < 2.5
    assert abs(_dominant_hz(audio.samples, RATE) - FREQ) < 5


def test_corrupt_packets_are_skipped(transcoder: PyAvTranscoder) -> None:
    data = bytearray(_encode_file("mp3", "libmp3lame", 24_000, seconds=4.0))
    middle = len(data) // 2
    data[middle : middle + 300] = np.random.default_rng(1).bytes(300)
    audio = transcoder.decode(bytes(data), RATE)
    assert audio.duration > 3.5


def test_a_rate_change_mid_stream_is_followed(transcoder: PyAvTranscoder) -> None:
    """Two MP3 streams back to back (24 kHz, then 48 kHz): the resampler is rebuilt between."""
    first, second = Mp3Encoder(24_000), Mp3Encoder(48_000)
    data = first.encode(tone(1.0, 24_000)) + first.finish()
    data += second.encode(tone(1.0, 48_000, frequency=880.0)) + second.finish()
    audio = transcoder.decode(data, RATE)
    assert abs(audio.duration - 2.0) < 0.2
    assert abs(_dominant_hz(audio.samples[: int(0.9 * RATE)], RATE) - 440) < 5
    assert abs(_dominant_hz(audio.samples[-int(0.9 * RATE) :], RATE) - 880) < 5


def test_samples_cross_block_boundaries() -> None:
    collected = _Samples()
    pieces = [np.full(n, i, np.float32) for i, n in enumerate([700_000, 900_000, 1, 600_000])]
    for piece in pieces:
        collected.append(piece)
    assert collected.count == sum(map(len, pieces))
    np.testing.assert_array_equal(collected.result(), np.concatenate(pieces))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", EMPTY_MESSAGE, id="empty"),
        pytest.param(np.random.default_rng(0).bytes(4096), INVALID_FORMAT_MESSAGE, id="random"),
        pytest.param(
            b"Just some notes, not audio at all.\n" * 40, INVALID_FORMAT_MESSAGE, id="text"
        ),
        pytest.param(b'{"text": "hello"}', INVALID_FORMAT_MESSAGE, id="json"),
        pytest.param(_png(), INVALID_FORMAT_MESSAGE, id="png"),
    ],
)
def test_rejects_what_is_not_audio(transcoder: PyAvTranscoder, data: bytes, message: str) -> None:
    with pytest.raises(AudioDecodeError) as info:
        transcoder.decode(data, RATE)
    assert str(info.value) == message


def test_invalid_format_message_matches_openai() -> None:
    assert INVALID_FORMAT_MESSAGE == (
        "Invalid file format. Supported formats: "
        "['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']"
    )


def test_rejects_a_truncated_header(transcoder: PyAvTranscoder) -> None:
    mp3 = _encode_file("mp3", "libmp3lame", 24_000)
    with pytest.raises(AudioDecodeError, match=r"^Invalid file format"):
        transcoder.decode(mp3[:100], RATE)


def test_rejects_a_file_cut_before_its_first_page(transcoder: PyAvTranscoder) -> None:
    ogg = _encode_file("ogg", "libopus", 48_000)  # one second fits one Ogg page
    with pytest.raises(AudioDecodeError) as info:
        transcoder.decode(ogg[:3000], RATE)
    assert str(info.value) == UNDECODABLE_MESSAGE


def test_rejects_a_video_without_sound(transcoder: PyAvTranscoder) -> None:
    data = _encode_file("mp4", "", 0, video="mpeg4", audio=False)
    with pytest.raises(AudioDecodeError) as info:
        transcoder.decode(data, RATE)
    assert str(info.value) == NO_AUDIO_MESSAGE


def test_no_av_exception_escapes(transcoder: PyAvTranscoder) -> None:
    good = _encode_file("ogg", "libopus", 48_000, seconds=2.0)
    rng = np.random.default_rng(2)
    for cut in range(1, len(good), len(good) // 25):
        damaged = bytearray(good[:cut])
        if len(damaged) > 64:
            damaged[32:64] = rng.bytes(32)
        with contextlib.suppress(AudioDecodeError):
            transcoder.decode(bytes(damaged), RATE)


def test_max_decoded_seconds_is_enforced() -> None:
    limited = _transcoder(max_decoded_seconds=2)
    assert limited.decode(_encode_file("flac", "flac", 16_000, seconds=1.5), RATE).duration == 1.5
    with pytest.raises(AudioDecodeError, match="longer than the 2 seconds"):
        limited.decode(_encode_file("flac", "flac", 16_000, seconds=3.0), RATE)


def test_a_tiny_file_cannot_expand_without_limit() -> None:
    """A minute of FLAC silence is a few kilobytes; the limit stops it while decoding."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="flac") as container:
        stream = container.add_stream("flac", rate=8_000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 8_000 * 60), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate, frame.pts, frame.time_base = 8_000, 0, Fraction(1, 8_000)
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    data = buffer.getvalue()
    assert len(data) < 20_000
    with pytest.raises(AudioDecodeError, match="longer than the 30 seconds"):
        _transcoder(max_decoded_seconds=30).decode(data, RATE)


# -- probing before decoding, decoding as the engine reads (issue 16) -------------------------


def _silence_flac(seconds: float, rate: int = 8_000) -> bytes:
    """FLAC silence: an hour is a few hundred kilobytes (and 230 MB decoded at 16 kHz)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate)
        stream.layout = "mono"
        step = rate * 60
        for begin in range(0, round(seconds * rate), step):
            count = min(step, round(seconds * rate) - begin)
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, count), np.int16), format="s16", layout="mono"
            )
            frame.sample_rate, frame.pts, frame.time_base = rate, begin, Fraction(1, rate)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch of samples PyAV decodes from now on."""
    seen: list[int] = []
    push = decode._MonoResampler.push

    def counting(self: Any, frame: Any) -> Any:
        out = push(self, frame)
        seen.extend(len(o) for o in out)
        return out

    monkeypatch.setattr(decode._MonoResampler, "push", counting)
    return seen


def test_a_file_longer_than_the_limit_is_refused_before_decoding(batches: list[int]) -> None:
    """Two hours of FLAC against a one-hour limit: the probe reads packets, decodes none."""
    data = _silence_flac(7_200)
    with pytest.raises(AudioDecodeError, match="longer than the 1 hour"):
        _transcoder(max_decoded_seconds=3_600).open(data, RATE)
    assert batches == []


def test_open_decodes_nothing_until_read_then_the_same_samples(batches: list[int]) -> None:
    for name in ("flac", "mp3", "ogg-opus", "m4a-aac", "webm-opus"):
        muxer, codec, rate, channels, options, _, _ = DECODE_CASES[name]
        data = _encode_file(muxer, codec, rate, channels=channels, seconds=3.0, options=options)
        whole = decode.decode_audio(data, RATE, max_seconds=60)
        batches.clear()
        stream = _transcoder().open(data, RATE)
        assert batches == [], f"{name}: probing decoded nothing"
        assert stream.expected_seconds == pytest.approx(3.0, abs=0.1), name
        read = stream.read_all()
        assert np.array_equal(read.samples, whole.samples), name
        assert stream.duration == whole.duration


def test_packet_durations_beat_a_bitrate_estimate() -> None:
    """Raw ADTS has no duration: FFmpeg guesses from the bit rate, the packets know."""
    data = _encode_file("adts", "aac", RATE, seconds=30.0)
    seconds = decode.probe_seconds(data, max_seconds=3_600)
    assert seconds == pytest.approx(30.0, abs=0.1)


def test_reading_windows_holds_a_window_not_the_file() -> None:
    """An hour read in 60 s windows: numpy's peak stays near two windows, not 230 MB."""
    stream = _transcoder().open(_silence_flac(3_600), RATE)
    tracemalloc.start()
    try:
        total = 0
        for _, piece in windows(stream, 60.0):
            total += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 3_600 * RATE
    assert peak < 40_000_000, f"peak {peak / 1e6:.0f} MB while reading windows"


def test_the_decoder_stops_as_soon_as_the_limit_is_passed(batches: list[int]) -> None:
    """When the probe cannot tell (packets without durations), decoding enforces the limit."""
    chunks = decode.decoded_chunks(_silence_flac(600), RATE, max_seconds=30)
    with pytest.raises(AudioDecodeError, match="longer than the 30 seconds"):
        for _ in chunks:
            pass
    assert sum(batches) <= 30 * RATE + 2 * (1 << 15), "not one batch more than needed"


def test_config_defaults_and_validation() -> None:
    config = PyAvConfig()
    assert config.max_decoded_seconds == 4 * 3600
    assert config.threads == 0
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"max_decoded_seconds": 0}, PyAvConfig)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"threads": -1}, PyAvConfig)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"thread": 2}, PyAvConfig)


def test_threads_option_decodes_the_same() -> None:
    data = _encode_file("mp3", "libmp3lame", 24_000)
    one = _transcoder(threads=1).decode(data, RATE)
    two = _transcoder(threads=2).decode(data, RATE)
    np.testing.assert_array_equal(one.samples, two.samples)


# -- encoding ----------------------------------------------------------------------------------

MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
# codec delay and padding an elementary stream cannot signal (mp3 without its LAME header, ADTS)
ENCODE_SLACK = {"mp3": 0.1, "aac": 0.1}


def _stream_parts(transcoder: PyAvTranscoder, fmt: str) -> tuple[Any, list[bytes], bytes]:
    """1 s at 24 kHz in five chunks, then 0.2 s at 22.05 kHz: the parts and the flushed tail."""
    encoder = transcoder.encoder(fmt, 24_000)
    whole = tone(1.0, 24_000)
    parts = [encoder.encode(PcmAudio(piece, 24_000)) for piece in np.array_split(whole.samples, 5)]
    parts.append(encoder.encode(tone(0.2, 22_050)))
    return encoder, parts, encoder.finish()


def _decode_output(fmt: str, data: bytes) -> tuple[int, PcmAudio]:
    """The stream rate the file declares, and its audio (mono float) at that rate."""
    if fmt == "pcm":
        return 24_000, PcmAudio.from_pcm16(data, 24_000)
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        chunks = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
        assert stream.codec_context.channels == 1
    return rate, PcmAudio(np.concatenate(chunks).astype(np.float32), rate)


@pytest.mark.parametrize("fmt", sorted(MEDIA_TYPES))
def test_encoder_round_trip(transcoder: PyAvTranscoder, fmt: str) -> None:
    encoder, parts, tail = _stream_parts(transcoder, fmt)
    data = b"".join(parts) + tail

    assert encoder.media_type == MEDIA_TYPES[fmt]
    assert sum(map(len, parts)) > 0, "nothing before finish()"
    rate, audio = _decode_output(fmt, data)
    assert rate == (48_000 if fmt == "opus" else 24_000)
    assert abs(audio.duration - 1.2) <= 0.01 + ENCODE_SLACK.get(fmt, 0.0), audio.duration
    assert abs(_dominant_hz(audio.samples, rate) - FREQ) < 5


@pytest.mark.parametrize("fmt", ["mp3", "wav", "pcm", "aac", "flac"])
def test_first_chunk_streams_at_once(transcoder: PyAvTranscoder, fmt: str) -> None:
    _, parts, _ = _stream_parts(transcoder, fmt)
    assert parts[0], f"{fmt}: the first 0.2 s gave no bytes"
    assert all(parts[1:]), f"{fmt}: a later chunk gave no bytes"


@pytest.mark.parametrize("fmt", sorted(MEDIA_TYPES))
def test_most_bytes_come_before_finish(transcoder: PyAvTranscoder, fmt: str) -> None:
    """Two seconds in 100 ms chunks: every format (opus included) streams, finish is a tail."""
    encoder = transcoder.encoder(fmt, 24_000)
    chunks = np.array_split(tone(2.0, 24_000).samples, 20)
    streamed = b"".join(encoder.encode(PcmAudio(chunk, 24_000)) for chunk in chunks)
    tail = encoder.finish()
    assert len(streamed) > 3 * len(tail), (fmt, len(streamed), len(tail))


def test_opus_streams_audio_pages_not_only_headers(transcoder: PyAvTranscoder) -> None:
    encoder = transcoder.encoder("opus", 24_000)
    streamed = b"".join(
        encoder.encode(PcmAudio(chunk, 24_000))
        for chunk in np.array_split(tone(2.0, 24_000).samples, 20)
    )
    encoder.finish()
    assert streamed.startswith(b"OggS")
    assert b"OpusHead" in streamed
    assert streamed.count(b"OggS") > 10  # header pages plus ~100 ms audio pages


def test_mp3_has_no_info_header_or_tag(transcoder: PyAvTranscoder) -> None:
    _, parts, tail = _stream_parts(transcoder, "mp3")
    data = b"".join(parts) + tail
    assert data[0] == 0xFF
    assert data[1] & 0xE0 == 0xE0  # an MPEG audio frame sync, not an ID3 tag
    first_frame = data[:200]
    assert b"Xing" not in first_frame
    assert b"Info" not in first_frame
    assert b"LAME" not in first_frame


def test_wav_has_one_streaming_header(transcoder: PyAvTranscoder) -> None:
    _, parts, tail = _stream_parts(transcoder, "wav")
    data = b"".join(parts) + tail
    assert data.count(b"RIFF") == 1
    assert data.count(b"WAVEfmt ") == 1
    assert data[:44] == wav_header(24_000)
    riff, riff_size, wave, fmt, fmt_size = struct.unpack("<4sI4s4sI", data[:20])
    tag, channels, rate, byte_rate, align, bits = struct.unpack("<HHIIHH", data[20:36])
    assert (riff, wave, fmt, fmt_size) == (b"RIFF", b"WAVE", b"fmt ", 16)
    assert riff_size == 0xFFFFFFFF
    assert (tag, channels, rate, byte_rate, align, bits) == (1, 1, 24_000, 48_000, 2, 16)
    assert data[36:40] == b"data"
    assert (len(data) - 44) == 2 * round(1.2 * 24_000)


def test_pcm_is_bare_samples(transcoder: PyAvTranscoder) -> None:
    encoder = transcoder.encoder("pcm", 24_000)
    audio = tone(0.5, 24_000)
    data = encoder.encode(audio) + encoder.finish()
    np.testing.assert_allclose(PcmAudio.from_pcm16(data, 24_000).samples, audio.samples, atol=1e-4)


def test_wav_header_comes_even_without_audio(transcoder: PyAvTranscoder) -> None:
    assert transcoder.encoder("wav", 24_000).finish() == wav_header(24_000)
    assert transcoder.encoder("pcm", 24_000).finish() == b""


@pytest.mark.parametrize("fmt", sorted(MEDIA_TYPES))
def test_finish_is_once(transcoder: PyAvTranscoder, fmt: str) -> None:
    encoder = transcoder.encoder(fmt, 24_000)
    encoder.encode(tone(0.1, 24_000))
    encoder.finish()
    assert encoder.finish() == b""
    with pytest.raises(RuntimeError):
        encoder.encode(tone(0.1, 24_000))


def test_output_rates(transcoder: PyAvTranscoder) -> None:
    assert OpusEncoder.output_rate(24_000) == 48_000
    assert Mp3Encoder.output_rate(23_000) == 24_000
    assert Mp3Encoder.output_rate(96_000) == 48_000
    opus = transcoder.encoder("opus", 16_000)
    assert isinstance(opus, OpusEncoder)
    assert opus.sample_rate == 48_000
    flac = transcoder.encoder("flac", 44_100)
    assert isinstance(flac, FlacEncoder)
    assert flac.sample_rate == 44_100


def test_unknown_format_and_bad_rate(transcoder: PyAvTranscoder) -> None:
    with pytest.raises(ValueError, match="unsupported audio format"):
        transcoder.encoder("ogg-vorbis", 24_000)
    with pytest.raises(ValueError, match="sample_rate"):
        transcoder.encoder("mp3", 0)
    with pytest.raises(ValueError, match="sample_rate"):
        transcoder.encoder("wav", -1)


def test_chunk_boundaries_do_not_click(transcoder: PyAvTranscoder) -> None:
    """Resampling is continuous across chunks: a tone cut in 50 pieces stays a clean tone."""
    encoder = transcoder.encoder("pcm", 24_000)
    source = tone(1.0, 22_050)
    data = b"".join(
        encoder.encode(PcmAudio(piece, 22_050)) for piece in np.array_split(source.samples, 50)
    )
    data += encoder.finish()
    out = PcmAudio.from_pcm16(data, 24_000).samples
    reference = source.resample(24_000).samples
    assert len(out) == len(reference)
    np.testing.assert_allclose(out[100:-100], reference[100:-100], atol=2e-3)


# -- the plugin --------------------------------------------------------------------------------


def test_registered_through_the_plugin_hook() -> None:
    pm = make_plugin_manager(plugins=[voxgate_pyav], entry_points_enabled=False, trace=False)
    assert Hooks(pm).registry.transcoder["pyav"] is PyAvTranscoder
    assert PyAvTranscoder.kind == "pyav"
    assert PyAvTranscoder.formats == frozenset(MEDIA_TYPES)
    assert set(ENCODERS) == set(MEDIA_TYPES)
    assert PyAvTranscoder.Config is PyAvConfig


def test_speed_is_printed(transcoder: PyAvTranscoder) -> None:
    """Timings for a 10 s clip (``pytest -s -k speed`` shows them); not asserted: CI varies."""
    clip = _encode_file("mp3", "libmp3lame", 24_000, seconds=10.0)
    transcoder.decode(clip, RATE)
    start = time.perf_counter()
    transcoder.decode(clip, RATE)
    lines = [f"decode 10 s mp3: {(time.perf_counter() - start) * 1e3:.1f} ms"]
    speech = tone(10.0, 24_000)
    for fmt in sorted(MEDIA_TYPES):
        start = time.perf_counter()
        encoder = transcoder.encoder(fmt, 24_000)
        for piece in np.array_split(speech.samples, 10):
            encoder.encode(PcmAudio(piece, 24_000))
        encoder.finish()
        lines.append(f"encode 10 s {fmt}: {(time.perf_counter() - start) * 1e3:.1f} ms")
    print("\n" + "\n".join(lines))  # noqa: T201
