"""PcmAudio: mono float32, resampling, 16-bit conversion."""

from __future__ import annotations

import numpy as np
import pytest

from voxgate import PcmAudio
from voxgate.testing.fakes import tone


def test_resample_keeps_duration_and_pitch():
    audio = tone(1.0, 16_000, 440.0)
    up = audio.resample(24_000)
    assert up.sample_rate == 24_000
    assert len(up) == 24_000
    spectrum = np.abs(np.fft.rfft(up.samples))
    assert abs(np.argmax(spectrum) * 24_000 / len(up) - 440) < 2
    assert audio.resample(16_000) is audio


def test_pcm16_round_trip_and_clipping():
    audio = PcmAudio(np.array([0.0, 0.5, -0.5, 2.0, -2.0], dtype=np.float32), 24_000)
    data = audio.to_pcm16()
    assert len(data) == 10
    back = PcmAudio.from_pcm16(data, 24_000)
    assert np.allclose(back.samples[:3], [0.0, 0.5, -0.5], atol=1e-4)
    assert back.samples[3] == pytest.approx(32767 / 32768)
    assert back.samples[4] == -1.0


def test_stereo_pcm_is_downmixed():
    stereo = np.array([[1000, -1000], [2000, 2000]], dtype="<i2").tobytes()
    mono = PcmAudio.from_pcm16(stereo, 8000, channels=2)
    assert len(mono) == 2
    assert mono.samples[0] == 0.0


def test_mono_float32_is_enforced():
    assert PcmAudio(np.zeros(4, dtype=np.float64), 8000).samples.dtype == np.float32
    with pytest.raises(ValueError, match="mono"):
        PcmAudio(np.zeros((4, 2), dtype=np.float32), 8000)
    with pytest.raises(ValueError, match="positive"):
        PcmAudio(np.zeros(4, dtype=np.float32), 0)


def test_concat_resamples_chunks():
    joined = PcmAudio.concat([tone(0.5, 16_000), tone(0.5, 24_000)], 24_000)
    assert joined.sample_rate == 24_000
    assert joined.duration == pytest.approx(1.0, abs=0.01)
    assert PcmAudio.concat([], 8000).duration == 0


def test_from_pcm_refuses_a_width_it_cannot_read():
    with pytest.raises(ValueError, match="1 to 4 bytes"):
        PcmAudio.from_pcm(b"\0" * 10, 16_000, width=5)


def test_from_pcm16_is_from_pcm_at_width_two():
    data = np.array([0, 16384, -16384, 32767], dtype="<i2").tobytes() * 2
    assert np.array_equal(
        PcmAudio.from_pcm16(data, 8_000, 2).samples,
        PcmAudio.from_pcm(data, 8_000, 2, width=2).samples,
    )
