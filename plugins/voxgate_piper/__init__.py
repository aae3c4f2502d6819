"""TTS kind ``piper``: Piper voices (``.onnx`` + ``.onnx.json``) through piper-tts.

Importing this module is cheap: piper-tts and onnxruntime are imported by ``load()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voxgate import hookimpl
from voxgate_piper.config import PiperConfig
from voxgate_piper.engine import PiperEngine

if TYPE_CHECKING:
    from collections.abc import Callable

    from voxgate import TtsEngine

__all__ = ["PiperConfig", "PiperEngine", "register_tts_engines"]


@hookimpl
def register_tts_engines(register: Callable[[type[TtsEngine]], None]) -> None:
    """Make the ``piper`` kind available to ``[tts.<name>]`` tables."""
    register(PiperEngine)
