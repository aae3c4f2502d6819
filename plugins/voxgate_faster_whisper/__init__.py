"""STT kind ``faster-whisper``: CTranslate2 Whisper through faster-whisper.

Importing this module is cheap: faster-whisper and CTranslate2 are imported by ``load()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voxgate import hookimpl
from voxgate_faster_whisper.config import FasterWhisperConfig, VadParameters
from voxgate_faster_whisper.engine import FasterWhisperEngine
from voxgate_faster_whisper.options import EXTRA_PARAMS, RequestExtra

if TYPE_CHECKING:
    from collections.abc import Callable

    from voxgate import SttEngine

__all__ = [
    "EXTRA_PARAMS",
    "FasterWhisperConfig",
    "FasterWhisperEngine",
    "RequestExtra",
    "VadParameters",
    "register_stt_engines",
]


@hookimpl
def register_stt_engines(register: Callable[[type[SttEngine]], None]) -> None:
    """Make the ``faster-whisper`` kind available to ``[stt.<name>]`` tables."""
    register(FasterWhisperEngine)
