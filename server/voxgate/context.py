"""What a plugin's routes may use of the running server: ``RouteContext`` and ``EngineHandle``.

A plugin that adds routes (``register_litestar_plugins``) gets this narrow view, never the
core's ``Runtime``: the configuration, and the configured engine instances by model id or all
of them, each loadable on demand. Everything else the runtime holds (the pool's queues and
threads, the hooks, the transcoder, per-service state) stays free to change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from voxgate.engines.base import EngineBase, SttEngine, TtsEngine

if TYPE_CHECKING:
    from voxgate.config import ServerConfig
    from voxgate.engines.pool import EngineInstance
    from voxgate.runtime import Runtime

E_co = TypeVar("E_co", bound=EngineBase, covariant=True)

ROUTE_CONTEXT = "route_context"
"""The name of the handler parameter Litestar injects the ``RouteContext`` into."""


class EngineHandle(Generic[E_co]):
    """One configured engine instance (``[tts.<name>]``), as a plugin's route handler sees it.

    Public (``voxgate.EngineHandle``): what ``RouteContext`` hands out, so a route can name an
    instance and reach its loaded engine, e.g. to list ``voices()``.
    """

    def __init__(self, instance: EngineInstance[E_co]) -> None:
        self._instance = instance

    @property
    def name(self) -> str:
        """The instance name: the ``<name>`` of its ``[tts.<name>]`` or ``[stt.<name>]`` table."""
        return self._instance.name

    @property
    def kind(self) -> str:
        """The registered kind the instance runs (``kokoro``, ``faster-whisper``...)."""
        return self._instance.config.kind

    async def loaded(self) -> E_co:
        """The loaded engine, loading it first in its worker thread if needed.

        Raises ``EngineError`` (a 500 for the client; the log has the cause) when it cannot
        load. Call only cheap methods on it from the event loop (``voices()``,
        ``loaded_capabilities()``): compute belongs to the services, in the worker thread.
        """
        return await self._instance.ensure_loaded()


class RouteContext:
    """What a plugin's route handlers may use of the running server: config and engines.

    Public (``voxgate.RouteContext``). Litestar injects it into any handler of the app,
    plugin routes included, that has a parameter named ``route_context``::

        @get("/v1/audio/voices")
        async def voices(route_context: NamedDependency[RouteContext]) -> list[str]: ...
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    @property
    def config(self) -> ServerConfig:
        """The validated configuration this app runs (read-only)."""
        return self._runtime.config

    def tts(self, model: str) -> EngineHandle[TtsEngine]:
        """The TTS instance serving an OpenAI model id; 404 ``model_not_found`` if none."""
        return EngineHandle(self._runtime.tts_engine(model))

    def stt(self, model: str) -> EngineHandle[SttEngine]:
        """The STT instance serving an OpenAI model id; 404 ``model_not_found`` if none."""
        return EngineHandle(self._runtime.stt_engine(model))

    def tts_instances(self) -> list[EngineHandle[TtsEngine]]:
        """Every configured TTS instance, in file order; none is loaded by asking."""
        return [EngineHandle(instance) for instance in self._runtime.pool.tts.values()]

    def stt_instances(self) -> list[EngineHandle[SttEngine]]:
        """Every configured STT instance, in file order; none is loaded by asking."""
        return [EngineHandle(instance) for instance in self._runtime.pool.stt.values()]
