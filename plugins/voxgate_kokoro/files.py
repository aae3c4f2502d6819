"""Find a Kokoro model's files on disk and read its voices, with errors that say what to fix.

Kokoro is distributed under several names (``model.onnx`` + ``voices.npz`` from the bundled
packages, ``kokoro-v1.0.onnx`` + ``voices-v1.0.bin`` from kokoro-onnx's releases), so a
directory is searched rather than assumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pathlib import Path

    from numpy.typing import NDArray

MODEL_NAME = "model.onnx"
VOICES_NAME = "voices.npz"
VOCAB_NAME = "vocab.json"
_VOICES_PATTERNS = ("voices*.npz", "voices*.bin")


@dataclass(frozen=True)
class ModelFiles:
    """The ONNX graph, the voices archive and, when present, the vocabulary beside the model."""

    model: Path
    voices: Path
    vocab: Path | None


def find_files(model: Path, voices: Path | None) -> ModelFiles:
    """Locate the files from the resolved ``model`` (a directory or an ``.onnx``) and ``voices``.

    Raises ``FileNotFoundError`` naming what is missing, and ``ValueError`` where the choice
    is ambiguous (two ``.onnx`` files and neither called ``model.onnx``).
    """
    if model.is_dir():
        folder = model
        onnx = _pick(folder, MODEL_NAME, ("*.onnx",), "ONNX model")
    elif model.is_file():
        folder, onnx = model.parent, model
    else:
        msg = f"Kokoro model `{model}` does not exist"
        raise FileNotFoundError(msg)
    if voices is None:
        voices = _pick(folder, VOICES_NAME, _VOICES_PATTERNS, "voices file")
    elif not voices.is_file():
        msg = f"Kokoro voices file `{voices}` does not exist or is not a file"
        raise FileNotFoundError(msg)
    vocab = folder / VOCAB_NAME
    return ModelFiles(model=onnx, voices=voices, vocab=vocab if vocab.is_file() else None)


def load_styles(path: Path) -> dict[str, NDArray[np.float32]]:
    """Every voice of an ``.npz`` archive as float32 ``(lengths, 1, 256)`` style stacks.

    Read once into memory: numpy's ``NpzFile`` re-reads a shared file handle on each access,
    which is neither fast nor safe from several worker threads.
    """
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        msg = f"`{path}` is not a Kokoro voices archive (.npz): {error}"
        raise ValueError(msg) from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        msg = f"`{path}` holds one array, not a Kokoro voices archive of named voices"
        raise TypeError(msg)
    with archive:
        styles = {name: np.asarray(archive[name], dtype=np.float32) for name in archive.files}
    if not styles:
        msg = f"`{path}` holds no voices"
        raise ValueError(msg)
    shapes = {style.shape for style in styles.values()}
    shape = next(iter(shapes))
    if len(shapes) > 1 or len(shape) != 3 or shape[1] != 1:  # noqa: PLR2004 - (n, 1, dim)
        msg = f"`{path}`: voices must share one (lengths, 1, dim) shape, found {sorted(shapes)}"
        raise ValueError(msg)
    return styles


def _pick(folder: Path, preferred: str, patterns: tuple[str, ...], what: str) -> Path:
    """``folder/preferred`` if it exists, else the only file matching ``patterns``."""
    if (folder / preferred).is_file():
        return folder / preferred
    found = sorted({path for pattern in patterns for path in folder.glob(pattern)})
    if len(found) == 1:
        return found[0]
    if not found:
        msg = f"`{folder}` has no {what} (`{preferred}` or {', '.join(patterns)})"
        raise FileNotFoundError(msg)
    names = ", ".join(path.name for path in found)
    msg = f"`{folder}` has several candidates for the {what} ({names}): name one in the config"
    raise ValueError(msg)
