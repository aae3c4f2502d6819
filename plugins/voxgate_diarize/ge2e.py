"""Resemblyzer's GE2E speaker encoder on numpy: no torch at run time.

The ``resemblyzer`` wheel ships its weights as ``pretrained.pt``, a checkpoint in PyTorch's
legacy (pre-zip) format. ``read_checkpoint`` reads that format with a restricted unpickler
(only ``OrderedDict`` and tensor rebuilding are allowed: nothing in the file can run code),
and ``Ge2eEncoder`` runs the network, a 3-layer LSTM over 40-band mel frames and a linear
layer, in numpy. Embeddings are 256 floats, L2-normalised: same speaker, cosine near 1.
"""

from __future__ import annotations

import collections
import pickle
import struct
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

if TYPE_CHECKING:
    from pathlib import Path

    from numpy.typing import NDArray

SAMPLE_RATE = 16_000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s: the length the encoder was trained on
HIDDEN = 256
LAYERS = 3
_TARGET_DBFS = -30.0

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_DTYPES: dict[str, type[np.generic]] = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "LongStorage": np.int64,
}


class CheckpointError(ValueError):
    """The file is not a checkpoint this reader understands."""


class _Storage:
    def __init__(self, key: str, dtype: type[np.generic], numel: int) -> None:
        self.key = key
        self.dtype = dtype
        self.numel = numel
        self.data: NDArray[Any] | None = None


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name = name


def _rebuild_tensor(
    storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> _LazyTensor:
    return _LazyTensor(storage, offset, size, stride)


class _LazyTensor:
    """A tensor whose storage is read after the object pickle (legacy format order)."""

    def __init__(
        self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]
    ) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def array(self) -> NDArray[Any]:
        data = self.storage.data
        if data is None:
            msg = f"storage {self.storage.key} missing from the checkpoint"
            raise CheckpointError(msg)
        item = data.itemsize
        return np.lib.stride_tricks.as_strided(
            data[self.offset :], shape=self.size, strides=[s * item for s in self.stride]
        ).copy()


class _Unpickler(pickle.Unpickler):
    """Allows only what a state dict of tensors needs."""

    def __init__(self, file: BinaryIO, storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in {"_rebuild_tensor_v2", "_rebuild_tensor"}:
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        msg = f"checkpoint refers to {module}.{name}, which a weights file has no use for"
        raise CheckpointError(msg)

    def persistent_load(self, pid: Any) -> _Storage:
        kind, storage_type, key, _location, numel = pid[:5]
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            msg = f"unexpected persistent id {pid[:2]!r}"
            raise CheckpointError(msg)
        if key not in self._storages:
            self._storages[key] = _Storage(key, _DTYPES[storage_type.name], numel)
        return self._storages[key]


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's top-level dict, tensors as numpy arrays; never imports torch."""
    storages: dict[str, _Storage] = {}
    with path.open("rb") as file:
        if pickle.load(file) != _LEGACY_MAGIC:  # noqa: S301  # a literal int: no objects
            msg = f"{path.name} is not a legacy PyTorch checkpoint"
            raise CheckpointError(msg)
        pickle.load(file)  # noqa: S301  # protocol version (an int)
        pickle.load(file)  # noqa: S301  # sys info (a dict of ints and bools)
        result = _Unpickler(file, storages).load()
        keys = pickle.load(file)  # noqa: S301  # the storage keys (a list of str)
        for key in keys:
            storage = storages[key]
            (numel,) = struct.unpack("<q", file.read(8))
            raw = file.read(numel * np.dtype(storage.dtype).itemsize)
            storage.data = np.frombuffer(raw, dtype=storage.dtype)
    materialized: dict[str, Any] = _materialize(result)
    return materialized


def _materialize(value: Any) -> Any:
    if isinstance(value, _LazyTensor):
        return value.array()
    if isinstance(value, dict):
        return {key: _materialize(item) for key, item in value.items()}
    return value


# -- features ----------------------------------------------------------------------------------


def _hz_to_mel(hz: NDArray[np.float64]) -> NDArray[np.float64]:
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    f_sp = 200.0 / 3
    mels = hz / f_sp
    min_log_hz = 1000.0
    logstep = np.log(6.4) / 27.0
    log_region = hz >= min_log_hz
    mels[log_region] = min_log_hz / f_sp + np.log(hz[log_region] / min_log_hz) / logstep
    return mels


def _mel_to_hz(mels: NDArray[np.float64]) -> NDArray[np.float64]:
    f_sp = 200.0 / 3
    hz = f_sp * mels
    min_log_mel = 1000.0 / f_sp
    logstep = np.log(6.4) / 27.0
    log_region = mels >= min_log_mel
    hz[log_region] = 1000.0 * np.exp(logstep * (mels[log_region] - min_log_mel))
    return hz


def mel_filterbank() -> NDArray[np.float32]:
    """``librosa.filters.mel(sr=16000, n_fft=400, n_mels=40)``: Slaney-normalised triangles."""
    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    edges = _mel_to_hz(np.linspace(0.0, _hz_to_mel(np.array([SAMPLE_RATE / 2]))[0], N_MELS + 2))
    weights = np.zeros((N_MELS, len(fft_freqs)))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    for band in range(N_MELS):
        lower = -ramps[band] / widths[band]
        upper = ramps[band + 2] / widths[band + 1]
        weights[band] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2 : N_MELS + 2] - edges[:N_MELS]))[:, None]
    return weights.astype(np.float32)


_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def mel_frames(samples: NDArray[np.float32], filters: NDArray[np.float32]) -> NDArray[np.float32]:
    """Power mel spectrogram, frames x 40, as resemblyzer computes it (librosa, centred)."""
    padded = np.pad(samples, N_FFT // 2)
    count = 1 + (len(padded) - N_FFT) // HOP
    if count <= 0:
        return np.zeros((0, N_MELS), dtype=np.float32)
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(count, N_FFT), strides=(padded.strides[0] * HOP, padded.strides[0])
    )
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)) ** 2
    mels: NDArray[np.float32] = (power.astype(np.float32) @ filters.T).astype(np.float32)
    return mels


def normalize_volume(samples: NDArray[np.float32]) -> NDArray[np.float32]:
    """Raise quiet audio to -30 dBFS (never lower it), as resemblyzer's preprocessing does."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    if rms <= 0:
        return samples
    change = _TARGET_DBFS - 20 * np.log10(rms)
    if change <= 0:
        return samples
    louder: NDArray[np.float32] = (samples * (10 ** (change / 20))).astype(np.float32)
    return louder


# -- the network -------------------------------------------------------------------------------


def _sigmoid(x: NDArray[np.float32]) -> NDArray[np.float32]:
    out: NDArray[np.float32] = 0.5 * (np.tanh(0.5 * x) + 1.0)  # no overflow for large |x|
    return out


class Ge2eEncoder:
    """The GE2E network with the checkpoint's weights; thread-safe (weights are read-only)."""

    def __init__(self, checkpoint: Path) -> None:
        state = read_checkpoint(checkpoint).get("model_state")
        if not isinstance(state, dict):
            msg = f"{checkpoint.name} has no model_state"
            raise CheckpointError(msg)
        try:
            self._layers = [
                (
                    np.ascontiguousarray(state[f"lstm.weight_ih_l{k}"].T, dtype=np.float32),
                    np.ascontiguousarray(state[f"lstm.weight_hh_l{k}"].T, dtype=np.float32),
                    (state[f"lstm.bias_ih_l{k}"] + state[f"lstm.bias_hh_l{k}"]).astype(np.float32),
                )
                for k in range(LAYERS)
            ]
            self._linear_w = np.ascontiguousarray(state["linear.weight"].T, dtype=np.float32)
            self._linear_b = state["linear.bias"].astype(np.float32)
        except KeyError as exc:
            msg = f"{checkpoint.name} lacks weight {exc}"
            raise CheckpointError(msg) from None
        self.filters = mel_filterbank()

    def embed_mels(self, mels: NDArray[np.float32]) -> NDArray[np.float32]:
        """Embeddings of a batch of equally long mel sequences (batch x frames x 40)."""
        batch, steps, _ = mels.shape
        sequence = mels
        hidden = np.zeros((batch, HIDDEN), dtype=np.float32)
        for w_ih, w_hh, bias in self._layers:
            inputs = (sequence.reshape(batch * steps, -1) @ w_ih + bias).reshape(batch, steps, -1)
            hidden = np.zeros((batch, HIDDEN), dtype=np.float32)
            cell = np.zeros((batch, HIDDEN), dtype=np.float32)
            outputs = np.empty((batch, steps, HIDDEN), dtype=np.float32)
            for t in range(steps):
                gates = inputs[:, t] + hidden @ w_hh
                i = _sigmoid(gates[:, :HIDDEN])
                f = _sigmoid(gates[:, HIDDEN : 2 * HIDDEN])
                g = np.tanh(gates[:, 2 * HIDDEN : 3 * HIDDEN])
                o = _sigmoid(gates[:, 3 * HIDDEN :])
                cell = f * cell + i * g
                hidden = o * np.tanh(cell)
                outputs[:, t] = hidden
            sequence = outputs
        raw = np.maximum(hidden @ self._linear_w + self._linear_b, 0.0)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        unit: NDArray[np.float32] = (raw / np.maximum(norms, 1e-9)).astype(np.float32)
        return unit

    def embed(self, clips: list[NDArray[np.float32]]) -> NDArray[np.float32]:
        """One embedding per clip (16 kHz mono), clips of equal length batched together."""
        out = np.zeros((len(clips), HIDDEN), dtype=np.float32)
        groups: dict[int, list[int]] = {}
        mels = []
        for index, clip in enumerate(clips):
            frames = mel_frames(normalize_volume(clip), self.filters)
            mels.append(frames)
            groups.setdefault(len(frames), []).append(index)
        for length, members in groups.items():
            if length == 0:
                continue
            out[members] = self.embed_mels(np.stack([mels[i] for i in members]))
        return out

    def embed_utterance(self, samples: NDArray[np.float32]) -> NDArray[np.float32]:
        """One embedding for a longer clip: the mean of its 1.6 s partials, re-normalised."""
        step = PARTIAL_FRAMES * HOP // 2
        size = PARTIAL_FRAMES * HOP
        starts = range(0, max(1, len(samples) - size + 1), step)
        clips = [samples[s : s + size] for s in starts]
        mean = self.embed(clips).mean(axis=0)
        unit: NDArray[np.float32] = (mean / max(float(np.linalg.norm(mean)), 1e-9)).astype(
            np.float32
        )
        return unit
