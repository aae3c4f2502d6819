"""The ``[wyoming]`` table: whether and where voxgate serves the Wyoming protocol."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Annotated

import msgspec

from voxgate import ConfigBase, ConfigProblem

if TYPE_CHECKING:
    from voxgate import ServerConfig

TABLE = "wyoming"
DEFAULT_PORT = 10300  # what Wyoming servers (wyoming-faster-whisper, wyoming-piper) listen on


class WyomingSettings(ConfigBase):
    """``[wyoming]``: a Wyoming server (Home Assistant's voice protocol) in ``voxgate serve``.

    It serves the same engine instances, limits and voice mapping as the HTTP API.
    """

    enabled: Annotated[
        bool, msgspec.Meta(description="Serve the Wyoming protocol (TCP) beside the HTTP API.")
    ] = False
    host: Annotated[
        str | None,
        msgspec.Meta(description="Interface to bind (unset: the `[server]` host)."),
    ] = None
    port: Annotated[
        int, msgspec.Meta(ge=0, le=65535, description="TCP port of the Wyoming server.")
    ] = DEFAULT_PORT
    zeroconf: Annotated[
        bool,
        msgspec.Meta(
            description=(
                "Announce the server over mDNS (`_wyoming._tcp.local.`) so Home Assistant "
                "discovers it; needs the `zeroconf` package."
            )
        ),
    ] = False
    zeroconf_name: Annotated[
        str | None,
        msgspec.Meta(description="The announced service name (unset: `voxgate-<hostname>`)."),
    ] = None


def wyoming_settings(config: ServerConfig) -> WyomingSettings:
    """This app's ``[wyoming]`` settings (the defaults when the table was not claimed)."""
    found = config.settings.get(TABLE)
    return found if isinstance(found, WyomingSettings) else WyomingSettings()


def bind_host(config: ServerConfig, settings: WyomingSettings) -> str:
    """``[wyoming] host``, else ``[server] host``."""
    return settings.host if settings.host is not None else config.server.host


def problems(config: ServerConfig) -> list[ConfigProblem]:
    """What stops the Wyoming server from starting, found without starting it."""
    settings = wyoming_settings(config)
    if not settings.enabled:
        return []
    found: list[ConfigProblem] = []
    if settings.zeroconf and importlib.util.find_spec("zeroconf") is None:
        found.append(
            ConfigProblem(
                "wyoming.zeroconf",
                "needs the `zeroconf` package, which is not installed "
                "(pip install zeroconf), or set zeroconf = false",
            )
        )
    same_host = bind_host(config, settings) == config.server.host
    if settings.port != 0 and settings.port == config.server.port and same_host:
        found.append(
            ConfigProblem("wyoming.port", f"port {settings.port} is the HTTP server's port too")
        )
    if not config.instances_for("stt") and not config.instances_for("tts"):
        found.append(
            ConfigProblem("wyoming.enabled", "no [stt.*] or [tts.*] instance to serve over Wyoming")
        )
    return found
