"""TTS kind ``coqui``: Coqui TTS models (coqui-tts on PyTorch), XTTS v2 voice cloning included.

Importing this module is cheap: torch and coqui-tts (``TTS``) are imported by ``load()``, so a
server with no ``coqui`` instance never needs them installed (``pip install "voxgate[coqui]"``
adds them; docs/self-hosting/coqui.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voxgate import hookimpl
from voxgate_coqui.config import CoquiConfig, CoquiVoice
from voxgate_coqui.engine import CoquiEngine

if TYPE_CHECKING:
    from collections.abc import Callable

    from voxgate import TtsEngine

__all__ = ["CoquiConfig", "CoquiEngine", "CoquiVoice", "register_tts_engines"]


@hookimpl
def register_tts_engines(register: Callable[[type[TtsEngine]], None]) -> None:
    """Make the ``coqui`` kind available to ``[tts.<name>]`` tables."""
    register(CoquiEngine)
