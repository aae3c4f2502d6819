"""Reference clips for voice cloning: find them in ``speakers_dir``, read them with PyAV.

Clips are decoded by voxgate's own FFmpeg (PyAV), not by ``torchaudio.load``: since
torchaudio 2.9 that needs torchcodec and a system FFmpeg built for the same torch, which CPU
installs from PyPI do not have (docs/self-hosting/coqui.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from voxgate_pyav.decode import decode_audio

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac", ".webm"}
)
MAX_CLIP_SECONDS = 600.0
"""Longest clip read at all; models use their first seconds (XTTS: ``max_ref_len``)."""


def is_clip(path: Path) -> bool:
    """An audio file by its suffix (hidden files never count)."""
    return (
        path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES and not path.name.startswith(".")
    )


def clip_voices(directory: Path) -> dict[str, tuple[Path, ...]]:
    """``alice.wav`` → voice ``alice``; a subdirectory ``bob/`` of clips → voice ``bob``.

    Raises ``ValueError`` where two entries claim one voice (``alice.wav`` and ``alice.mp3``)
    and ``FileNotFoundError`` when ``directory`` is not a directory.
    """
    if not directory.is_dir():
        msg = f"speakers_dir `{directory}` is not a directory"
        raise FileNotFoundError(msg)
    voices: dict[str, tuple[Path, ...]] = {}
    for entry in sorted(directory.iterdir()):
        if entry.is_dir() and not entry.name.startswith("."):
            clips = tuple(sorted(path for path in entry.iterdir() if is_clip(path)))
            name = entry.name
        elif is_clip(entry):
            clips, name = (entry,), entry.stem
        else:
            continue
        if not clips:
            continue
        if name in voices:
            msg = f"`{directory}` has two clips or folders for voice `{name}`: keep one"
            raise ValueError(msg)
        voices[name] = clips
    return voices


def resolve_clip(spec: str, speakers_dir: Path | None) -> Path:
    """A ``speaker_wav`` entry as a file: absolute, or relative to ``speakers_dir``."""
    path = Path(spec).expanduser()
    if speakers_dir is not None:
        path = speakers_dir / path  # an absolute path stays itself
    if not path.is_file():
        where = "" if speakers_dir is None else f" (relative paths are read from `{speakers_dir}`)"
        msg = f"reference clip `{path}` does not exist{where}"
        raise FileNotFoundError(msg)
    return path


def read_clip(path: Path, sample_rate: int) -> NDArray[np.float32]:
    """The clip as mono float32 at ``sample_rate``; ``ValueError`` naming the file if unreadable."""
    try:
        data = path.read_bytes()
        return decode_audio(data, sample_rate, max_seconds=MAX_CLIP_SECONDS).samples
    except (OSError, ValueError) as error:  # AudioDecodeError is a ValueError
        msg = f"reference clip `{path}` cannot be read: {error}"
        raise ValueError(msg) from error
