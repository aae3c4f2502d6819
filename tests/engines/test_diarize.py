"""The ``ge2e`` diarizer on its shipped weights (``pkg:speaker-ge2e``), on generated speech.

The weights reader and the numpy network are checked against PyTorch and librosa where those
are installed (the ``coqui`` extra brings both); the diarizer is scored with the DER on a
two-voice conversation made by our own TTS engines (``conversation`` in tests/conftest.py).
"""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from der import der

import voxgate_bundled
from voxgate import DiarizeOptions, InvalidRequestError, KnownSpeaker, PcmAudio
from voxgate.testing.contracts import make_engine
from voxgate_diarize import Ge2eDiarizer
from voxgate_diarize.ge2e import Ge2eEncoder, mel_filterbank, mel_frames, read_checkpoint


def pcm(wav_bytes: bytes) -> PcmAudio:
    with wave.open(io.BytesIO(wav_bytes)) as source:
        data = source.readframes(source.getnframes())
        rate = source.getframerate()
    return PcmAudio.from_pcm16(data, rate).resample(16_000)


@pytest.fixture(scope="module")
def diarizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    engine = make_engine(Ge2eDiarizer, {}, [voxgate_bundled], tmp_path_factory.mktemp("ge2e"))
    engine.load()
    yield engine
    engine.unload()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    resolved = voxgate_bundled.resolve_pkg("speaker-ge2e", _context(tmp_path_factory))
    return resolved / "pretrained.pt"


def _context(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from voxgate import ModelSourceContext

    return ModelSourceContext(cache_dir=tmp_path_factory.mktemp("cache"))


def diarize(diarizer: Any, audio: PcmAudio, known: tuple[KnownSpeaker, ...] = ()) -> list[Any]:
    session = diarizer.session(DiarizeOptions(known_speakers=known))
    for start in range(0, len(audio.samples), 16_000):
        session.feed(audio.samples[start : start + 16_000])
    return session.finish()


def test_the_weights_read_without_torch_equal_what_torch_loads(checkpoint):
    torch = pytest.importorskip("torch")
    ours = read_checkpoint(checkpoint)["model_state"]
    theirs = torch.load(checkpoint, map_location="cpu", weights_only=False)["model_state"]
    assert set(ours) == set(theirs)
    for name, tensor in theirs.items():
        np.testing.assert_array_equal(ours[name], tensor.numpy(), err_msg=name)


def test_the_numpy_network_equals_torch_and_the_mels_equal_librosa(checkpoint):
    torch = pytest.importorskip("torch")
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(0)
    samples = (0.1 * rng.standard_normal(2 * 16_000)).astype(np.float32)
    theirs_mel = librosa.feature.melspectrogram(
        y=samples, sr=16_000, n_fft=400, hop_length=160, n_mels=40
    ).T
    ours_mel = mel_frames(samples, mel_filterbank())
    np.testing.assert_allclose(ours_mel, theirs_mel, rtol=1e-4, atol=1e-6)
    state = read_checkpoint(checkpoint)["model_state"]
    lstm = torch.nn.LSTM(40, 256, 3, batch_first=True)
    linear = torch.nn.Linear(256, 256)
    lstm.load_state_dict({k[5:]: torch.from_numpy(v) for k, v in state.items() if k[:5] == "lstm."})
    linear.load_state_dict(
        {k[7:]: torch.from_numpy(v) for k, v in state.items() if k[:7] == "linear."}
    )
    batch = np.stack([ours_mel[:160], ours_mel[40:200]]).astype(np.float32)
    with torch.no_grad():
        _, (hidden, _) = lstm(torch.from_numpy(batch))
        expected = torch.relu(linear(hidden[-1]))
        expected = (expected / expected.norm(dim=1, keepdim=True)).numpy()
    np.testing.assert_allclose(Ge2eEncoder(checkpoint).embed_mels(batch), expected, atol=1e-5)


def test_two_voices_are_two_speakers_with_a_low_error_rate(diarizer, conversation):
    turns = diarize(diarizer, pcm(conversation.wav))
    hypothesis = [(t.start, t.end, t.speaker) for t in turns]
    assert len({t.speaker for t in turns}) == 2
    assert der(conversation.turns, hypothesis) <= 0.10


def test_known_speakers_name_their_voices(diarizer, conversation):
    known = tuple(
        KnownSpeaker(name=who.title(), audio=pcm(clip))
        for who, clip in conversation.references.items()
    )
    turns = diarize(diarizer, pcm(conversation.wav), known)
    hypothesis = [(t.start, t.end, t.speaker.lower()) for t in turns]
    assert {t.speaker for t in turns} == {"Joe", "Alpha"}
    # names, not just clusters: scored without the optimal mapping, as a client reads them
    reference = [(a, b, who) for a, b, who in conversation.turns]
    speech = sum(b - a for a, b, _ in reference)
    wrong = sum(
        max(0.0, min(b, d) - max(a, c))
        for a, b, who in reference
        for c, d, said in hypothesis
        if said != who
    )
    assert wrong / speech <= 0.10


def test_a_reference_clip_without_speech_is_a_400(diarizer):
    silence = PcmAudio(np.zeros(3 * 16_000, dtype=np.float32), 16_000)
    with pytest.raises(InvalidRequestError) as info:
        diarizer.session(DiarizeOptions(known_speakers=(KnownSpeaker(name="Ann", audio=silence),)))
    assert info.value.param == "known_speaker_references"
