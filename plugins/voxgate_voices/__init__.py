"""Built-in plugin ``voices``: the default answer to ``map_voice``, and the voice routes.

A requested voice (``alloy``, or any alias) maps through ``[voices.<instance>]`` to an
engine voice spec; any other name reaches the engine unchanged, so engine ids such as
``jf_alpha`` just work and the engine judges them. It is ``trylast``: a plugin that maps voices
differently simply answers first. The mapping can be changed while the server runs
(``PUT /v1/audio/voices/mapping``) and saved to ``[voices] mapping_file``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voxgate import VoiceChoice, hookimpl
from voxgate_voices.routes import VoiceRoutes
from voxgate_voices.settings import TABLE, VoicesSettings, live_mapping, load, tts_instances

if TYPE_CHECKING:
    from collections.abc import Callable

    import msgspec
    from litestar.plugins import InitPluginProtocol

    from voxgate import ConfigProblem, ServerConfig

__all__ = ["VoicesSettings"]

DEFAULT_VOICE_NAMES = ("default", "alloy")
"""What an empty ``voice`` means on an instance: the first of these names its table maps."""


@hookimpl
def register_settings(register: Callable[[str, type[msgspec.Struct]], None]) -> None:
    """Claim ``[voices]``."""
    register(TABLE, VoicesSettings)


@hookimpl
def check_config(config: ServerConfig) -> list[ConfigProblem]:
    """Check ``[voices.<instance>]`` against the TTS instances, then load the mapping file.

    Loading here, not at app start, lets ``voxgate check-config`` report a bad mapping file
    with every other problem, and leaves ``map_voice`` one dict lookup per request.
    """
    settings = config.settings.get(TABLE)
    if not isinstance(settings, VoicesSettings):
        return []
    return load(settings, tts_instances(config))


@hookimpl(trylast=True)
def map_voice(voice: str, engine: str, config: ServerConfig) -> VoiceChoice | None:
    """The mapped spec for ``voice`` on instance ``engine`` (case-insensitive), else ``voice``.

    A blank voice asks for the instance's default: the name ``default`` if the instance maps
    it, else ``alloy`` (the OpenAI name clients reach for first); ``None`` if it maps neither.
    """
    table = live_mapping(config).get(engine, {})
    if not voice.strip():
        spec = next((table[name] for name in DEFAULT_VOICE_NAMES if name in table), None)
        return VoiceChoice(voice_id=spec) if spec is not None else None
    spec = table.get(voice.casefold())
    return VoiceChoice(voice_id=spec if spec is not None else voice)


@hookimpl
def register_litestar_plugins() -> list[InitPluginProtocol]:
    """``GET /v1/audio/voices`` and ``GET``/``PUT /v1/audio/voices/mapping``."""
    return [VoiceRoutes()]
