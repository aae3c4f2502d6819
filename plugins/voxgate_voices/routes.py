"""``/v1/audio/voices``: the voices a client can pick, and live edits of the mapping.

``GET /v1/audio/voices`` answers the shape Open WebUI reads when its TTS engine is "OpenAI" with
a custom base URL: ``{"voices": [{"id", "name"}, ...]}`` (extra keys are ignored there). Edits
apply to this app's live mapping in the event loop, so every request after the reply sees them
and concurrent edits never interleave; the mapping file is small and written in place.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import anyio.to_thread
import msgspec
import structlog
from litestar import get, put

# Handler annotations are resolved at runtime by Litestar: these imports must stay real.
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, JSONBody  # noqa: TC002
from litestar.plugins import InitPluginProtocol
from msgspec import UNSET, UnsetType

from voxgate import (
    EngineHandle,
    InvalidRequestError,
    NotFoundError,
    OpenAIError,
    RouteContext,  # resolved at runtime by Litestar, like the imports above
    StateUnavailableError,
    Voice,
)
from voxgate_voices import shared
from voxgate_voices.settings import (
    MAX_ENGINE_VOICE,
    MAX_VOICE_NAME,
    MAX_VOICES_PER_INSTANCE,
    VoiceMapping,
    live_mapping,
    mapping_path,
    too_many_voices,
    tts_instances,
    voices_settings,
    write_mapping_file,
)

if TYPE_CHECKING:
    from pathlib import Path

    from litestar.config.app import AppConfig

    from voxgate import ServerConfig, StateStore, TtsEngine

log = structlog.get_logger("voxgate.voices")


class VoiceEntry(msgspec.Struct, kw_only=True):
    """One pickable voice: a mapped name or an engine's own voice, on one TTS instance."""

    id: str
    name: str
    instance: str
    engine_voice: str
    languages: list[str]


class VoiceList(msgspec.Struct, kw_only=True):
    """``{"voices": [...]}``: what Open WebUI parses (it reads ``id`` and ``name``)."""

    voices: list[VoiceEntry]


VoiceName = Annotated[
    str,
    msgspec.Meta(
        pattern=r"\S",
        max_length=MAX_VOICE_NAME,
        description=f"Not blank; at most {MAX_VOICE_NAME} characters.",
    ),
]
EngineVoice = Annotated[
    str,
    msgspec.Meta(
        pattern=r"\S",
        max_length=MAX_ENGINE_VOICE,
        description=f"Not blank; at most {MAX_ENGINE_VOICE} characters.",
    ),
]


class MappingEdit(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One change: map ``voice`` on ``instance`` to ``engine_voice``, or remove it (null).

    ``engine_voice`` has no default, so a misspelt key is a 400 rather than a removal.
    """

    instance: Annotated[str, msgspec.Meta(max_length=MAX_VOICE_NAME)]
    voice: VoiceName
    engine_voice: EngineVoice | None


EditBody = (
    MappingEdit | Annotated[list[MappingEdit], msgspec.Meta(max_length=MAX_VOICES_PER_INSTANCE)]
)
MAPPING_LOCK = "voice_mapping_lock"


class MappingSaveError(OpenAIError):
    """500: the change was not applied because the mapping file could not be written."""


def _entries(name: str, mapping: dict[str, str], voices: list[Voice]) -> list[VoiceEntry]:
    """Mapped names first, then the engine voices no mapped name hides."""
    languages = {voice.id: voice.languages for voice in voices}
    entries = [
        VoiceEntry(
            id=alias,
            name=f"{alias} ({spec})",
            instance=name,
            engine_voice=spec,
            languages=list(languages.get(spec, [])),
        )
        for alias, spec in mapping.items()
    ]
    entries.extend(
        VoiceEntry(
            id=voice.id,
            name=voice.name,
            instance=name,
            engine_voice=voice.id,
            languages=list(voice.languages),
        )
        for voice in voices
        if voice.id.casefold() not in mapping
    )
    return entries


async def _engine_voices(instance: EngineHandle[TtsEngine]) -> list[Voice]:
    """The engine's voices, loading it first (its lock keeps an idle unload from racing us)."""
    engine = await instance.loaded()
    return engine.voices()


@get("/v1/audio/voices")
async def list_voices(
    route_context: NamedDependency[RouteContext], model: FromQuery[str | None] = None
) -> VoiceList:
    """Voices for ``model``'s TTS instance, or for every TTS instance when no model is given.

    Without a model (Open WebUI sends none), an instance whose engine fails to load still
    lists its mapped names, so one broken engine does not empty the list; with a model, the
    failure is the answer.
    """
    mapping = live_mapping(route_context.config)
    if model is not None:
        instance = route_context.tts(model)
        voices = await _engine_voices(instance)
        return VoiceList(voices=_entries(instance.name, mapping.get(instance.name, {}), voices))
    instances = route_context.tts_instances()
    results = await asyncio.gather(
        *(_engine_voices(instance) for instance in instances), return_exceptions=True
    )
    entries: list[VoiceEntry] = []
    for instance, result in zip(instances, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            log.warning("voices of an instance left out", instance=instance.name, error=str(result))
            result = []  # noqa: PLW2901 - the mapped names are still worth listing
        entries.extend(_entries(instance.name, mapping.get(instance.name, {}), result))
    return VoiceList(voices=entries)


@get("/v1/audio/voices/mapping", sync_to_thread=False)
def get_mapping(route_context: NamedDependency[RouteContext]) -> VoiceMapping:
    """The live mapping of every TTS instance, ``{}`` for those with none."""
    mapping = live_mapping(route_context.config)
    return {name: dict(mapping.get(name, {})) for name in tts_instances(route_context.config)}


@put("/v1/audio/voices/mapping", status_code=200)
async def edit_mapping(
    route_context: NamedDependency[RouteContext],
    voice_mapping_lock: NamedDependency[asyncio.Lock],
    data: JSONBody[EditBody],
) -> VoiceMapping:
    """Apply one edit or a list of them, all or none; answer the touched instances' mapping.

    An empty list changes nothing and answers ``{}``.

    The mapping lives in the shared state store (every replica follows it; 503 while it is
    unreachable). The file, when configured, is written (in a worker thread: it is fsynced)
    before the shared mapping changes, so a failed save changes nothing, and again when
    another replica's edit came in between; the lock queues this app's edits,
    compare-and-set the other replicas'.
    """
    edits = data if isinstance(data, list) else [data]
    return await apply_edits(
        route_context.config,
        route_context.state,
        voice_mapping_lock,
        edits,
        listed=isinstance(data, list),
    )


async def apply_edits(
    config: ServerConfig,
    store: StateStore,
    lock: asyncio.Lock,
    edits: list[MappingEdit],
    *,
    listed: bool,
) -> VoiceMapping:
    """Apply ``edits`` all or none, saved first; the touched instances' tables as they now are.

    The one path every edit takes (``PUT /v1/audio/voices/mapping`` and AllTalk's alias), so
    they validate, save and log alike. ``listed``: errors name ``[index].field``. The
    mapping lives in the shared state ``store`` (503 while it is unreachable).
    """
    settings = voices_settings(config)
    if settings is None:  # the table is always claimed with this plugin; a hand-built config
        raise OpenAIError("Voice mapping is not configured on this server.")
    instances = tts_instances(config)
    path = mapping_path(settings)

    def change(base: VoiceMapping) -> VoiceMapping:
        return _edited(base, edits, instances, listed=listed)

    async with lock:  # this app's edits queue; other replicas' retry (compare-and-set)
        if store.problem is not None:
            raise StateUnavailableError
        saved: VoiceMapping | None = None
        if path is not None:  # saved before the shared value changes: a failure changes nothing
            saved = await _saved(path, {**settings.mapping, **change(settings.mapping)})
        whole, changed = await shared.edit(store, settings.mapping, change, instances)
        if path is not None and whole != saved:  # another replica's edit came in between
            await _saved(path, whole)
        settings.mapping = whole  # whole tables swapped: readers never see half an edit
    for edit in edits:
        log.info(
            "voice mapping changed",
            instance=edit.instance,
            voice=edit.voice.casefold(),
            engine_voice=edit.engine_voice,
        )
    return {name: dict(table) for name, table in changed.items()}


async def _saved(path: Path, mapping: VoiceMapping) -> VoiceMapping:
    """Write ``mapping`` to the mapping file (in a worker thread: it is fsynced)."""
    try:
        await anyio.to_thread.run_sync(write_mapping_file, path, mapping)
    except OSError as exc:
        log.error("voice mapping not saved", path=str(path), error=str(exc))  # noqa: TRY400
        msg = f"The voice mapping could not be saved ({exc.strerror}); nothing changed."
        raise MappingSaveError(msg) from exc
    return mapping


def _edited(
    mapping: VoiceMapping, edits: list[MappingEdit], instances: list[str], *, listed: bool
) -> VoiceMapping:
    """The tables the edits touch, as they will be; 404/400 for an edit that cannot apply."""
    changed: VoiceMapping = {}
    for index, edit in enumerate(edits):
        where = f"[{index}]." if listed else ""
        if edit.instance not in instances:
            known = ", ".join(instances) or "none"
            raise NotFoundError(
                f"No TTS instance `{edit.instance}` (TTS instances: {known}).",
                param=f"{where}instance",
            )
        table = changed.setdefault(edit.instance, dict(mapping.get(edit.instance, {})))
        key = edit.voice.casefold()
        if edit.engine_voice is None:
            table.pop(key, None)
        else:
            table[key] = edit.engine_voice
            if len(table) > MAX_VOICES_PER_INSTANCE:
                msg = f"This edit {too_many_voices(edit.instance, len(table))}."
                raise InvalidRequestError(msg, param=f"{where}voice")
    return changed


class OpenAIVoiceMap(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """AllTalk's ``PUT /api/openai-voicemap`` body: OpenAI voice names to engine voices.

    AllTalk takes its six names, all required; any of the 13 may be sent here, and a name
    left out keeps its mapping. Another key is a 400, so a misspelt name never goes unseen.
    """

    alloy: EngineVoice | UnsetType = UNSET
    ash: EngineVoice | UnsetType = UNSET
    ballad: EngineVoice | UnsetType = UNSET
    coral: EngineVoice | UnsetType = UNSET
    echo: EngineVoice | UnsetType = UNSET
    fable: EngineVoice | UnsetType = UNSET
    onyx: EngineVoice | UnsetType = UNSET
    nova: EngineVoice | UnsetType = UNSET
    sage: EngineVoice | UnsetType = UNSET
    shimmer: EngineVoice | UnsetType = UNSET
    verse: EngineVoice | UnsetType = UNSET
    marin: EngineVoice | UnsetType = UNSET
    cedar: EngineVoice | UnsetType = UNSET


@put("/api/openai-voicemap", status_code=200)
async def alltalk_voicemap(
    route_context: NamedDependency[RouteContext],
    voice_mapping_lock: NamedDependency[asyncio.Lock],
    data: JSONBody[OpenAIVoiceMap],
    model: FromQuery[str] = "tts-1",
) -> VoiceMapping:
    """AllTalk's remap, as an alias of the mapping edit on the instance ``model`` routes to.

    AllTalk remaps its one loaded engine; here that is the instance ``tts-1`` speaks with,
    or the one ``?model=`` names. Answers that instance's mapping, as the edit does.
    """
    instance = route_context.tts(model).name
    edits = [
        MappingEdit(instance=instance, voice=field, engine_voice=value)
        for field in data.__struct_fields__
        if isinstance(value := getattr(data, field), str)
    ]
    changed = await apply_edits(
        route_context.config, route_context.state, voice_mapping_lock, edits, listed=False
    )
    return changed or {instance: dict(live_mapping(route_context.config).get(instance, {}))}


class VoiceRoutes(InitPluginProtocol):
    """Adds the voice routes to the app."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Register the handlers; ``/v1`` gives them API-key checks and the error envelope."""
        app_config.route_handlers.extend([list_voices, get_mapping, edit_mapping, alltalk_voicemap])
        lock = asyncio.Lock()  # one per app, as the live mapping is
        app_config.dependencies[MAPPING_LOCK] = Provide(lambda: lock, sync_to_thread=False)
        app_config.lifespan.append(shared.following)  # after the core's: the store is started
        return app_config
