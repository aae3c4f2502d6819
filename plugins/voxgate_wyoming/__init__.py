"""Built-in plugin ``wyoming``: serves Home Assistant's Wyoming protocol from voxgate's engines.

With ``[wyoming] enabled = true``, ``voxgate serve`` also listens for Wyoming clients on TCP
(port 10300 by default): ``describe`` lists the STT instances as ASR models and the TTS
instances' voices, ``transcribe`` and ``synthesize`` (streaming forms included) run through
the same engine pool, limits, voice mapping and errors as the OpenAI HTTP API. The server is
started in the app's lifespan (``register_litestar_plugins``) and reaches the engines through
``RouteContext.of(app)``: the public API only, as a third-party plugin would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voxgate import hookimpl
from voxgate_wyoming.listener import WyomingPlugin
from voxgate_wyoming.settings import TABLE, WyomingSettings, problems, wyoming_settings

if TYPE_CHECKING:
    from collections.abc import Callable

    import msgspec
    from litestar.plugins import InitPluginProtocol

    from voxgate import ConfigProblem, ServerConfig

__all__ = ["WyomingSettings"]


@hookimpl
def register_settings(register: Callable[[str, type[msgspec.Struct]], None]) -> None:
    """Claim ``[wyoming]``."""
    register(TABLE, WyomingSettings)


@hookimpl
def check_config(config: ServerConfig) -> list[ConfigProblem]:
    """A missing ``zeroconf`` package, a port clash, nothing to serve."""
    return problems(config)


@hookimpl
def register_litestar_plugins(config: ServerConfig) -> list[InitPluginProtocol]:
    """The Wyoming server in the app's lifespan, when ``[wyoming] enabled``."""
    settings = wyoming_settings(config)
    return [WyomingPlugin(config, settings)] if settings.enabled else []
