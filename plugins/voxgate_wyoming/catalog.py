"""What ``describe`` lists, and how a Wyoming request names a model or a voice.

ASR: one program, ``voxgate``, with a model per STT instance (its name, the languages the
loaded model knows). A ``transcribe`` event names an STT instance or any model id the HTTP API
takes; without one, ``whisper-1`` (else the first STT instance) transcribes.

TTS: a program per TTS instance. Its voices are the mapped names of ``[voices.<instance>]``
(``alloy``...) and then the engine's own voices. Voice names are unique across the programs, as
Home Assistant lists every program's voices together: the voices of the default instance (the
one ``tts-1`` resolves to) are listed as they are (``alloy``), those of the other instances as
``<instance>/<voice>`` (``kokoro/alloy``). A ``synthesize`` voice may also name an instance
or a model id, with ``speaker`` as the voice, or only a language.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from wyoming.info import AsrModel, AsrProgram, Attribution, Info, TtsProgram, TtsVoice

from voxgate import InvalidRequestError, ModelNotFoundError, __version__

if TYPE_CHECKING:
    from wyoming.tts import SynthesizeVoice

    from voxgate import EngineHandle, RouteContext, TtsEngine

log = structlog.get_logger("voxgate.wyoming")

DEFAULT_STT_MODEL = "whisper-1"
DEFAULT_TTS_MODEL = "tts-1"
ATTRIBUTION = Attribution(name="voxgate", url="")


@dataclass(frozen=True)
class VoiceEntry:
    """One voice as Wyoming lists it, and what ``RouteContext.speak`` is asked for."""

    name: str  # unique in ``info``
    instance: str
    voice: str  # a mapped name or an engine voice id: a speech request's ``voice``
    description: str
    languages: list[str]


def _base(language: str) -> str:
    return language.strip().lower().replace("_", "-").split("-", 1)[0]


class Catalog:
    """This app's STT and TTS instances as Wyoming sees them."""

    def __init__(self, context: RouteContext) -> None:
        self.context = context

    # -- models ----------------------------------------------------------------------------

    def stt_model(self, name: str | None) -> str:
        """The model id to transcribe with; 404 ``model_not_found`` for an unknown name."""
        if name:
            self.context.stt(name)  # raises for an unknown model
            return name
        try:
            self.context.stt(DEFAULT_STT_MODEL)
        except ModelNotFoundError:
            instances = self.context.stt_instances()
            if not instances:
                raise
            return instances[0].name
        return DEFAULT_STT_MODEL

    def default_tts_instance(self) -> str:
        """The instance ``tts-1`` resolves to, else the first TTS instance."""
        try:
            return self.context.tts(DEFAULT_TTS_MODEL).name
        except ModelNotFoundError:
            instances = self.context.tts_instances()
            if not instances:
                raise
            return instances[0].name

    # -- voices ----------------------------------------------------------------------------

    def _mapping(self, instance: str) -> dict[str, str]:
        """``[voices.<instance>]`` (the live mapping the ``voices`` plugin keeps), if any."""
        voices = self.context.config.settings.get("voices")
        mapping = getattr(voices, "mapping", None)
        table = mapping.get(instance) if isinstance(mapping, dict) else None
        return dict(table) if isinstance(table, dict) else {}

    async def voices(self, handle: EngineHandle[TtsEngine]) -> list[VoiceEntry]:
        """Mapped names first, then the engine's voices no mapped name hides."""
        engine = await handle.loaded()
        own = engine.voices()
        languages = {voice.id: list(voice.languages) for voice in own}
        every = list(dict.fromkeys(lang for voice in own for lang in voice.languages))
        mapping = self._mapping(handle.name)
        prefix = "" if handle.name == self.default_tts_instance() else f"{handle.name}/"
        entries = [
            VoiceEntry(
                name=prefix + alias,
                instance=handle.name,
                voice=alias,
                description=f"{alias} ({spec}, {handle.name})",
                languages=languages.get(spec, every),
            )
            for alias, spec in mapping.items()
        ]
        entries.extend(
            VoiceEntry(
                name=prefix + voice.id,
                instance=handle.name,
                voice=voice.id,
                description=f"{voice.name} ({handle.name})",
                languages=list(voice.languages),
            )
            for voice in own
            if voice.id.casefold() not in mapping
        )
        return entries

    async def resolve_voice(self, wanted: SynthesizeVoice | None) -> tuple[str, str]:
        """``(instance, voice)`` for a ``synthesize`` voice; the default instance's first voice.

        Unknown voice names reach the engine, which refuses them as the HTTP API does.
        """
        name = wanted.name if wanted is not None else None
        if name:
            instance = self._instance_named(name)
            if instance is not None:  # an instance or a model id: speaker is the voice
                if wanted is not None and wanted.speaker:
                    return instance, wanted.speaker
                return instance, await self._first_voice(instance)
            head, _, rest = name.partition("/")
            if rest:
                instance = self._instance_named(head)
                if instance is not None:
                    return instance, rest
            return self.default_tts_instance(), name
        language = wanted.language if wanted is not None else None
        if language:
            return await self._voice_for_language(language)
        instance = self.default_tts_instance()
        return instance, await self._first_voice(instance)

    def _instance_named(self, name: str) -> str | None:
        """The TTS instance an instance name or a listed model id speaks with, else ``None``.

        Only concrete ids count: a ``[models]`` pattern such as ``"*"`` matches voice names too,
        and a voice name must stay a voice.
        """
        config = self.context.config
        if name not in config.instances and name not in config.model_ids():
            return None
        try:
            return self.context.tts(name).name
        except ModelNotFoundError:
            return None

    async def _first_voice(self, instance: str) -> str:
        entries = await self.voices(self.context.tts(instance))
        if not entries:
            msg = f"The TTS instance `{instance}` offers no voice."
            raise InvalidRequestError(msg, param="voice")
        return entries[0].voice

    async def _voice_for_language(self, language: str) -> tuple[str, str]:
        wanted = _base(language)
        default = self.default_tts_instance()
        handles = sorted(self.context.tts_instances(), key=lambda h: h.name != default)
        for handle in handles:
            for entry in await self.voices(handle):
                if any(_base(lang) == wanted for lang in entry.languages):
                    return entry.instance, entry.voice
        msg = f"No voice speaks language `{language}`."
        raise InvalidRequestError(msg, param="language")

    # -- describe ----------------------------------------------------------------------------

    async def info(self, *, streaming: bool) -> Info:
        """The ``info`` answer; an instance that fails to load is listed as not installed."""
        stt = self.context.stt_instances()
        tts = self.context.tts_instances()
        languages = await asyncio.gather(
            *(handle.languages() for handle in stt), return_exceptions=True
        )
        voices = await asyncio.gather(*(self.voices(h) for h in tts), return_exceptions=True)
        models = []
        for handle, known in zip(stt, languages, strict=True):
            if isinstance(known, BaseException):
                log.warning(
                    "wyoming: STT instance left out", instance=handle.name, error=str(known)
                )
            models.append(
                AsrModel(
                    name=handle.name,
                    attribution=Attribution(name=handle.kind, url=""),
                    installed=not isinstance(known, BaseException),
                    description=f"{handle.name} ({handle.kind})",
                    version=__version__,
                    languages=[] if isinstance(known, BaseException) else known,
                )
            )
        asr = (
            [
                AsrProgram(
                    name="voxgate",
                    attribution=ATTRIBUTION,
                    installed=True,
                    description="voxgate speech to text",
                    version=__version__,
                    models=models,
                    supports_transcript_streaming=streaming,
                )
            ]
            if models
            else []
        )
        programs = []
        for tts_handle, entries in zip(tts, voices, strict=True):
            if isinstance(entries, BaseException):
                log.warning(
                    "wyoming: TTS instance left out", instance=tts_handle.name, error=str(entries)
                )
            programs.append(
                TtsProgram(
                    name=tts_handle.name,
                    attribution=Attribution(name=tts_handle.kind, url=""),
                    installed=not isinstance(entries, BaseException),
                    description=f"voxgate {tts_handle.name} ({tts_handle.kind})",
                    version=__version__,
                    voices=[
                        TtsVoice(
                            name=entry.name,
                            attribution=Attribution(name=tts_handle.kind, url=""),
                            installed=True,
                            description=entry.description,
                            version=None,
                            languages=entry.languages,
                        )
                        for entry in ([] if isinstance(entries, BaseException) else entries)
                    ],
                    supports_synthesize_streaming=streaming,
                )
            )
        return Info(asr=asr, tts=programs)
