"""Realtime audio: G.711 bit-exact against CPython's audioop, the buffer's clock, Silero turns."""

from __future__ import annotations

import warnings
from pathlib import Path

import av
import numpy as np
import pytest

from voxgate.engines.audio import PcmAudio
from voxgate.services.realtime import audio as formats
from voxgate.services.realtime.buffer import AudioBuffer
from voxgate.services.realtime.vad import SpeechStarted, SpeechStopped, TurnDetector, TurnSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the reference G.711 implementation (removed in Python 3.13)

DATA = Path(__file__).resolve().parents[1] / "data"
EVERY_SAMPLE = np.arange(-32768, 32768, dtype=np.int16)


@pytest.mark.parametrize(
    ("name", "encode", "decode"),
    [
        ("g711_ulaw", audioop.lin2ulaw, audioop.ulaw2lin),
        ("g711_alaw", audioop.lin2alaw, audioop.alaw2lin),
    ],
)
def test_g711_matches_audioop_on_every_sample_and_code(name, encode, decode):
    audio = PcmAudio(EVERY_SAMPLE.astype(np.float32) / 32768, 8_000)
    assert formats.encode(name, audio) == encode(EVERY_SAMPLE.tobytes(), 2)
    codes = bytes(range(256))
    expected = np.frombuffer(decode(codes, 2), dtype=np.int16).astype(np.float32) / 32768
    np.testing.assert_array_equal(formats.decode(name, codes).samples, expected)


def test_pcm16_round_trip_and_durations():
    audio = PcmAudio(np.linspace(-0.5, 0.5, 2_400, dtype=np.float32), 24_000)
    data = formats.encode("pcm16", audio)
    assert len(data) == 4_800
    assert formats.milliseconds("pcm16", len(data)) == 100.0
    assert formats.milliseconds("g711_ulaw", 800) == 100.0
    np.testing.assert_allclose(formats.decode("pcm16", data).samples, audio.samples, atol=1e-4)
    assert len(formats.encode("g711_alaw", audio)) == 800, "resampled to 8 kHz"


def test_buffer_cuts_by_milliseconds_of_audio_received():
    buffer = AudioBuffer(1_000, limit_seconds=10)
    buffer.append(np.arange(3_000, dtype=np.float32))
    assert buffer.received_ms == 3_000
    buffer.drop_before(1_000)
    turn = buffer.take(2_500)
    assert turn.samples[0] == 1_000
    assert len(turn) == 1_500
    assert buffer.buffered_ms == 500
    buffer.clear()
    assert buffer.buffered_ms == 0
    assert buffer.received_ms == 3_000
    assert buffer.full(10_001)


def speech_16k() -> np.ndarray:
    with av.open(str(DATA / "en-10s.wav")) as container:
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    return np.concatenate(frames).astype(np.float32) / 32768


def test_turns_from_silero_on_speech_fed_in_small_chunks():
    speech = speech_16k()
    silence = np.zeros(16_000, dtype=np.float32)
    stream = np.concatenate([silence, speech, silence, silence, speech[:48_000], silence])
    detector = TurnDetector(TurnSettings(prefix_padding_ms=300, silence_duration_ms=500))
    events = []
    for start in range(0, len(stream), 1_600):  # 100 ms at a time
        events += detector.feed(stream[start : start + 1_600])
    assert [type(e) for e in events] == [SpeechStarted, SpeechStopped] * 2
    first, stopped, second, _ = events
    assert 1_000 <= first.onset_ms <= 1_400
    assert first.audio_start_ms == first.onset_ms - 300
    assert 10_500 <= stopped.audio_end_ms <= 11_100
    assert 12_900 <= second.onset_ms <= 13_400
    assert detector.position_ms == pytest.approx(len(stream) / 16, abs=32)
