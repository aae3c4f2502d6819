"""Every hook voxgate calls. Plugins implement them with ``@voxgate.hookimpl``.

Hooks are synchronous and cheap: they register kinds or decide something small. Engines do the
work. An implementation may accept fewer arguments than its spec (pluggy's opt-in arguments),
which is what lets a spec grow an argument without breaking plugins. Only ``voxgate.plugins.hooks``
calls these; every spec here has a heading in ``docs/plugins/hooks.md`` and a test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voxgate.plugins import hookspec

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    import msgspec
    from litestar.plugins import InitPluginProtocol

    from voxgate.config import ServerConfig, Task
    from voxgate.engines.base import (
        ChatProxy,
        Diarizer,
        SttEngine,
        Transcoder,
        TtsEngine,
        VoiceChoice,
    )
    from voxgate.models.sources import ModelSourceContext
    from voxgate.schema import ConfigProblem
    from voxgate.state import StateStore


@hookspec
def register_settings(register: Callable[[str, type[msgspec.Struct]], None]) -> None:
    """Claim a top-level TOML table for this plugin, e.g. ``register("voices", VoicesSettings)``.

    Called once, before the configuration is read. Not firstresult: every plugin may claim
    tables. The table is decoded into the Struct (unknown keys are errors, reported with the
    rest) and reaches the plugin as ``config.settings[name]``. Default: no table is claimed.
    Claiming a core table name or a table another plugin claimed fails at start-up.
    """


@hookspec
def check_config(config: ServerConfig) -> Sequence[ConfigProblem] | None:
    """Return problems with the finished configuration, reported together with all others.

    Called once, after every table decoded cleanly (by ``serve`` and ``check-config``), with
    no engine loaded. Not firstresult: the problems of every plugin are collected. Default:
    no problems.
    """


@hookspec
def register_stt_engines(register: Callable[[type[SttEngine]], None]) -> None:
    """Register speech-to-text engine classes: ``register(FasterWhisperEngine)`` per kind.

    Called once at start-up. Not firstresult. The class's ``kind`` is what ``[stt.<name>] kind``
    names; a kind registered twice fails naming both plugins. Default: nothing is registered.
    """


@hookspec
def register_tts_engines(register: Callable[[type[TtsEngine]], None]) -> None:
    """Register text-to-speech engine classes: ``register(KokoroEngine)`` per kind.

    Called once at start-up. Not firstresult. ``[tts.<name>] kind`` selects one. A kind
    registered twice fails naming both plugins. Default: nothing is registered.
    """


@hookspec
def register_transcoders(register: Callable[[type[Transcoder]], None]) -> None:
    """Register transcoder classes that decode uploads and encode responses.

    Called once at start-up. Not firstresult. Default: nothing is registered (the built-in
    ``pyav`` plugin registers one).
    """


@hookspec
def register_chat_proxies(register: Callable[[type[ChatProxy]], None]) -> None:
    """Register chat proxy classes that forward chat completions to an upstream LLM.

    Called once at start-up. Not firstresult. ``[chat.<name>] kind`` selects one. Default:
    nothing is registered.
    """


@hookspec
def register_diarizers(register: Callable[[type[Diarizer]], None]) -> None:
    """Register speaker diarizer classes: ``register(Ge2eDiarizer)`` per kind.

    Called once at start-up. Not firstresult. ``[diarize.<name>] kind`` selects one; a
    ``[models]`` route naming that instance as ``diarize`` lets a model id answer
    ``diarized_json``. A kind registered twice fails naming both plugins. Default: nothing
    is registered (the built-in ``diarize`` plugin registers ``ge2e``).
    """


@hookspec
def register_state_stores(register: Callable[[type[StateStore]], None]) -> None:
    """Register shared-state store classes: ``register(RedisStore)`` per kind.

    Called once at start-up. Not firstresult. The URL scheme of ``[state] url`` picks the kind
    whose ``schemes`` holds it; a kind or scheme registered twice fails naming both plugins.
    Default: the built-in ``state`` plugin registers ``memory`` and ``redis``.
    """


@hookspec
def register_model_sources(
    register: Callable[[str, Callable[[str, ModelSourceContext], Path]], None],
) -> None:
    """Register a model source scheme: ``register("pkg", resolve)``.

    Called once at start-up. Not firstresult. ``resolve(reference, context)`` receives the part
    after ``scheme:`` and returns a local path, downloading or unpacking into
    ``context.cache_dir`` if it must. A spec without a registered scheme is a local path.
    Default: only local paths resolve.
    """


@hookspec(firstresult=True)
def resolve_model(model: str, task: Task, config: ServerConfig) -> str | None:
    """Name the engine instance that serves OpenAI model id ``model`` for ``task``.

    Called per request. Firstresult: the first non-``None`` answer wins, so a plugin can
    route some ids and return ``None`` for the rest. Default (``trylast``, built-in plugin
    ``routing``): the ``[models]`` aliases, then instance names. ``None`` everywhere means
    404 ``model_not_found``.
    """


@hookspec(firstresult=True)
def map_voice(voice: str, model: str, engine: str, config: ServerConfig) -> VoiceChoice | None:
    """Turn a requested voice (an OpenAI name such as ``alloy``, or an engine id) into a choice.

    Called per speech request, before the first byte. Firstresult. ``engine`` is the instance
    name; ``voice`` is ``""`` when the request asks for the instance's default voice. Default
    (``trylast``, the voices plugin): the ``[voices.<instance>]`` mapping, then engine-native
    ids. ``None`` everywhere means 400 with ``param: "voice"``.
    """


@hookspec
def register_litestar_plugins(config: ServerConfig) -> Sequence[InitPluginProtocol] | None:
    """Return Litestar ``InitPlugin`` objects that add routes, middleware or lifespan hooks.

    Called once by ``create_app``. Not firstresult: every plugin's are added. Default: none.
    Routes under ``/v1`` get API-key checks and the OpenAI error envelope like built-in ones.
    """
