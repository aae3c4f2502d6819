"""TTS kind ``kokoro``: Kokoro-82M through kokoro-onnx (onnxruntime), voice blends.

Importing this module is cheap: kokoro-onnx, onnxruntime and phonemizer are imported by
``load()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voxgate import hookimpl
from voxgate_kokoro.config import KokoroConfig
from voxgate_kokoro.engine import KokoroEngine
from voxgate_kokoro.voices import BlendError, parse_blend

if TYPE_CHECKING:
    from collections.abc import Callable

    from voxgate import TtsEngine

__all__ = ["BlendError", "KokoroConfig", "KokoroEngine", "parse_blend", "register_tts_engines"]


@hookimpl
def register_tts_engines(register: Callable[[type[TtsEngine]], None]) -> None:
    """Make the ``kokoro`` kind available to ``[tts.<name>]`` tables."""
    register(KokoroEngine)
