"""What a plugin's routes may use of the running server: ``RouteContext`` and ``EngineHandle``.

A plugin that adds routes (``register_litestar_plugins``) gets this narrow view, never the
core's ``Runtime``: the configuration, and the configured engine instances by model id or all
of them, each loadable on demand. A plugin that serves another protocol (a listener started in
the app's lifespan) reaches the same view with ``RouteContext.of(app)`` and runs transcription
and speech through it (``transcribe``, ``speak``): the HTTP API's services, engine pool, limits,
voice mapping and errors. Everything else the runtime holds (the pool's queues and threads, the
hooks, the transcoder, per-service state) stays free to change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from voxgate.engines.base import EngineBase, SttEngine, TtsEngine
from voxgate.services import speech, transcription
from voxgate.services.languages import LANGUAGE_NAMES

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from litestar import Litestar

    from voxgate.config import ServerConfig
    from voxgate.engines.audio import PcmAudio
    from voxgate.engines.base import Segment
    from voxgate.engines.pool import EngineInstance
    from voxgate.runtime import Runtime
    from voxgate.state import StateStore

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

    async def languages(self) -> list[str]:
        """The language codes (``en``, ``de``...) this instance serves, loading it if needed.

        STT: what the loaded model transcribes (``SttCapabilities.languages``; every Whisper
        code when the engine does not narrow them). TTS: the languages of its ``voices()``, in
        order. What a protocol that lists languages per model (Wyoming's ``info``) announces.
        """
        engine = await self.loaded()
        if isinstance(engine, SttEngine):
            known = engine.loaded_capabilities().languages
            return list(known) if known is not None else list(LANGUAGE_NAMES)
        if isinstance(engine, TtsEngine):
            return list(
                dict.fromkeys(lang for voice in engine.voices() for lang in voice.languages)
            )
        return []


class RouteContext:
    """What a plugin's route handlers may use of the running server: config and engines.

    Public (``voxgate.RouteContext``). Litestar injects it into any handler of the app,
    plugin routes included, that has a parameter named ``route_context``::

        @get("/v1/audio/voices")
        async def voices(route_context: NamedDependency[RouteContext]) -> list[str]: ...
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    @classmethod
    def of(cls, app: Litestar) -> RouteContext:
        """The context of a voxgate app, for code that runs outside a handler.

        A plugin's lifespan or ``on_startup`` handler (added with
        ``register_litestar_plugins``) receives the ``app``; a listener it starts there (a
        Wyoming or SIP server) gets its engines through this, not through DI.
        """
        context = app.state.get(ROUTE_CONTEXT)
        if not isinstance(context, RouteContext):
            msg = "this app was not built by voxgate's create_app"
            raise TypeError(msg)
        return context

    @property
    def config(self) -> ServerConfig:
        """The validated configuration this app runs (read-only)."""
        return self._runtime.config

    @property
    def state(self) -> StateStore:
        """The app's shared state store (``[state] url``): what replicas must agree on goes here.

        Its methods raise ``StateUnavailableError`` (503) while it cannot be reached.
        """
        return self._runtime.state_store

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

    async def transcribe(
        self,
        model: str,
        audio: PcmAudio,
        *,
        language: str | None = None,
        prompt: str | None = None,
    ) -> AsyncGenerator[Segment, None]:
        """Transcribe decoded audio as ``POST /v1/audio/transcriptions`` would, segment by segment.

        ``audio`` may be at any rate (it is resampled for the engine); ``language`` is a code
        or name as the form takes it. Everything an upload is refused for is raised here,
        before the first segment, as the same ``OpenAIError``: an unknown model (404
        ``model_not_found``), an unknown or unsupported language (400, ``param="language"``),
        audio longer than ``[server] max_upload_bytes`` holds as 16-bit mono PCM (413), a
        full queue (429). The engine runs in its pool instance under its concurrency limit;
        iterate the result to the end or ``aclose()`` it to free the engine::

            segments = await route_context.transcribe("whisper-1", audio, language="en")
            async with contextlib.aclosing(segments):
                async for segment in segments: ...
        """
        instance = self._runtime.stt_engine(model)
        return await transcription.open_pcm(
            instance,
            model,
            audio,
            language=language,
            prompt=prompt,
            max_bytes=self._runtime.config.server.max_upload_bytes,
        )

    async def speak(
        self,
        model: str,
        voice: str,
        text: str,
        *,
        speed: float = 1.0,
        instructions: str | None = None,
    ) -> AsyncGenerator[PcmAudio, None]:
        """Speak ``text`` as ``POST /v1/audio/speech`` would, one piece (sentence) at a time.

        ``voice`` is what a request's ``voice`` may be (``alloy``, an engine voice id), mapped
        by ``map_voice``. The first clause is synthesized before this returns, so every
        error a request gets before its first byte is raised here: an unknown model (404),
        an unknown voice or bad input (400 ``InvalidRequestError``), a full queue (429). Each
        item is one piece of mono audio at the engine's own rate; the next piece is being
        synthesized while the caller handles this one. Iterate to the end or ``aclose()``.
        """
        return await speech.speak(
            self._runtime, model, voice, text, speed=speed, instructions=instructions
        )
