"""What the app holds while it runs: config, hooks, engine pool, transcoder, model sources.

Built from a validated ``ServerConfig`` in ``create_app``; handlers receive it through
Litestar's dependency injection, never through a global.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from voxgate.drain import Drain
from voxgate.engines.base import (
    ChatProxy,
    ComponentContext,
    Diarizer,
    EngineBase,
    SttEngine,
    Transcoder,
    TtsEngine,
)
from voxgate.engines.pool import EngineInstance, EnginePool
from voxgate.errors import ModelNotFoundError, ServiceUnavailableError
from voxgate.models.sources import ModelSourceContext, ModelSourceError, ModelSources
from voxgate.services.decoded_budget import DecodedAudioBudget
from voxgate.state.memory import MemoryConfig, MemoryStore
from voxgate.telemetry import Telemetry

E = TypeVar("E", bound=EngineBase)

if TYPE_CHECKING:
    from pathlib import Path

    from voxgate.config import InstanceConfig, ServerConfig, Task
    from voxgate.plugins.hooks import Hooks
    from voxgate.state import StateStore


class Runtime:
    """Everything a request may need, assembled once per app.

    A plain class, not a dataclass: Litestar would otherwise try to validate it as a model
    when it is injected into handlers.
    """

    def __init__(
        self,
        *,
        config: ServerConfig,
        hooks: Hooks,
        pool: EnginePool,
        model_sources: ModelSources,
        transcoder: Transcoder | None,
        chat: dict[str, ChatProxy] | None = None,
        telemetry: Telemetry | None = None,
        state_store: StateStore | None = None,
    ) -> None:
        self.config = config
        self.hooks = hooks
        self.pool = pool
        self.model_sources = model_sources
        self.transcoder = transcoder
        self.chat = chat or {}
        self.telemetry = telemetry or Telemetry()
        self.drain = Drain(pool, config.server.shutdown_timeout)
        self.decoded_audio = DecodedAudioBudget(config.server.max_decoded_audio_bytes)
        self.state: dict[str, Any] = {}  # per-app service objects, keyed by service
        # what requests and replicas share (chat audio ids, transcripts, the voice mapping)
        self.state_store = state_store if state_store is not None else _memory_store(config)

    def instance_name(self, model: str, task: Task, *, param: str = "model") -> str:
        """The instance serving ``model`` for ``task``; 404 ``model_not_found`` if none."""
        name = self.hooks.resolve_model(model, task, self.config)
        if name is None:
            raise ModelNotFoundError(model, param=param)
        return name

    def stt_engine(self, model: str) -> EngineInstance[SttEngine]:
        """The STT instance for an OpenAI model id."""
        return _pick(self.pool.stt, self.instance_name(model, "stt"), model)

    def tts_engine(self, model: str) -> EngineInstance[TtsEngine]:
        """The TTS instance for an OpenAI model id."""
        return _pick(self.pool.tts, self.instance_name(model, "tts"), model)

    def diarizer(self, model: str) -> EngineInstance[Diarizer] | None:
        """The diarizer routed for an OpenAI model id, or ``None`` when it has none."""
        name = self.hooks.resolve_model(model, "diarize", self.config)
        return None if name is None else _pick(self.pool.diarize, name, model)

    def chat_proxy(self, model: str) -> ChatProxy:
        """The chat proxy for a model id; 503 saying how to configure one when there is none."""
        if not self.chat:
            raise ServiceUnavailableError(
                "No upstream LLM is configured for chat completions: add a [chat.<name>] "
                'table with kind = "openai" and base_url (or set CHAT_COMPLETION_BASE_URL '
                "with the default config). See docs/self-hosting/chat.md.",
                code="upstream_not_configured",
                headers={"x-should-retry": "false"},
            )
        name = self.instance_name(model, "chat")
        proxy = self.chat.get(name)
        if proxy is None:
            raise ModelNotFoundError(model)
        return proxy

    async def start(self) -> None:
        """Start the engine pool, connect the state store, open the chat proxies' connections."""
        self.pool.start()
        await self.state_store.start()
        for proxy in self.chat.values():
            await proxy.start()

    async def aclose(self) -> None:
        """Close chat connections, stop and unload the engines, flush the traces."""
        for proxy in self.chat.values():
            await proxy.aclose()
        await self.state_store.aclose()
        await self.pool.close()
        await self.telemetry.aclose()


def _memory_store(config: ServerConfig) -> StateStore:
    """The one-process store, for a config without ``[state]`` and no state kind installed."""
    context = ComponentContext(
        instance="state", cache_dir=config.cache_path(), resolve_model_path=_no_models
    )
    return MemoryStore(MemoryConfig(), context, url="memory://")


def _no_models(spec: str) -> Path:
    msg = f"state stores load no models ({spec!r})"
    raise ModelSourceError(msg)


def _pick(table: dict[str, EngineInstance[E]], name: str, model: str) -> EngineInstance[E]:
    """``table[name]``; a plugin routing to an instance that is not there is a 404 too."""
    instance = table.get(name)
    if instance is None:
        raise ModelNotFoundError(model)
    return instance


def build_runtime(
    config: ServerConfig, hooks: Hooks, telemetry: Telemetry | None = None
) -> Runtime:
    """Create (not load) every instance the config names."""
    telemetry = telemetry or Telemetry()
    registry = hooks.registry
    sources = ModelSources(
        registry.model_source,
        ModelSourceContext(cache_dir=config.cache_path(), offline=config.server.offline),
    )

    def context(name: str) -> ComponentContext:
        return ComponentContext(
            instance=name, cache_dir=config.cache_path(), resolve_model_path=sources.resolve
        )

    def instance(inst: InstanceConfig, cls: type[EngineBase]) -> EngineInstance[Any]:
        return EngineInstance(inst, cls, context(inst.name), telemetry)

    stt = {i.name: instance(i, registry.stt[i.kind]) for i in config.instances_for("stt")}
    tts = {i.name: instance(i, registry.tts[i.kind]) for i in config.instances_for("tts")}
    diarize = {
        i.name: instance(i, registry.diarize[i.kind]) for i in config.instances_for("diarize")
    }
    chat = {
        i.name: registry.chat[i.kind](i.options, context(i.name))
        for i in config.instances_for("chat")
    }
    transcoder = None
    if config.transcoder is not None:  # the kind the config names, never just any installed
        chosen = config.transcoder
        cls = registry.transcoder[chosen.kind]
        transcoder = cls(chosen.options, context(f"transcoder:{chosen.kind}"))
    state_store = None
    if config.state is not None:
        state_cls = registry.state[config.state.kind]
        state_store = state_cls(config.state.options, context("state"), url=config.state.url)
    pool = EnginePool(stt, tts, diarize)
    telemetry.watch_pool(pool)
    return Runtime(
        config=config,
        hooks=hooks,
        pool=pool,
        model_sources=sources,
        transcoder=transcoder,
        chat=chat,
        telemetry=telemetry,
        state_store=state_store,
    )
