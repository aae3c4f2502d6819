"""h2oGPT's voice hints: ``speaker`` and ``chatbot_role`` pick the voice when ``voice`` is empty.

h2oGPT's speech examples send ``voice: ""`` and name the voice in its own fields instead
(``speaker="SLT (female)"`` for its Microsoft engine, ``chatbot_role="Female AI Assistant"`` for
Coqui). A hint is used only when it names a voice this instance has: a name its voice mapping
maps, or one of the engine's own voices. Anything else is the other server's voice, so it is
ignored with a log line, and the instance's default voice speaks: the example still works.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
import structlog

from voxgate.engines.base import VoiceChoice

if TYPE_CHECKING:
    from voxgate.engines.base import TtsEngine
    from voxgate.engines.pool import EngineInstance
    from voxgate.runtime import Runtime
    from voxgate.wire.speech import SpeechRequest

log = structlog.get_logger("voxgate.speech")

HINTS = ("speaker", "chatbot_role")
"""The fields tried, in order: h2oGPT's default engine (SpeechT5) reads ``speaker``."""


async def with_hinted_voice(runtime: Runtime, request: SpeechRequest) -> SpeechRequest:
    """``request`` with its empty ``voice`` set from the first hint that names a voice here."""
    hints = [(field, getattr(request, field)) for field in HINTS]
    hints = [(field, value) for field, value in hints if value and value.strip()]
    if request.voice_id.strip() or not hints:
        return request
    instance = runtime.tts_engine(request.model)
    engine_voices: set[str] | None = None
    for field, name in hints:
        if _mapped(runtime, request.model, instance.name, name):
            return msgspec.structs.replace(request, voice=name)
        if engine_voices is None:
            engine_voices = await _engine_voices(instance)
        if name in engine_voices:
            return msgspec.structs.replace(request, voice=name)
        log.info(
            "voice hint ignored: not a voice of this instance",
            field=field,
            value=name[:64],
            instance=instance.name,
        )
    return request


def _mapped(runtime: Runtime, model: str, instance: str, name: str) -> bool:
    """Whether ``map_voice`` maps ``name`` (a name it passes through unchanged is not mapped)."""
    choice = runtime.hooks.map_voice(name, model, instance, runtime.config)
    return choice is not None and choice != VoiceChoice(voice_id=name)


async def _engine_voices(instance: EngineInstance[TtsEngine]) -> set[str]:
    """The ids of the engine's own voices (loading it, as the request is about to)."""
    voices = await instance.run(lambda engine: engine.voices())
    return {voice.id for voice in voices}
