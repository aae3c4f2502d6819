"""The ``[voices]`` table, the live mapping it seeds, and the mapping file that persists it.

The live mapping is ``config.settings["voices"].mapping`` itself: every app has its own
``ServerConfig``, so an edit reaches ``map_voice`` at once and never leaks into another app (no
module globals). It holds ``{instance: {voice name, casefolded: engine voice spec}}``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import msgspec

from voxgate import ConfigBase, ConfigProblem, join_path

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from voxgate import ServerConfig

TABLE = "voices"
VoiceMapping = dict[str, dict[str, str]]

# Bounds on what the mapping holds, however it is written (TOML, the file, ``PUT``): it is
# served whole by ``GET /v1/audio/voices`` and rewritten whole on every edit.
MAX_VOICE_NAME = 256  # a requested voice is at most this long (``POST /v1/audio/speech``)
MAX_ENGINE_VOICE = 1024  # room for a blend of many voices
MAX_VOICES_PER_INSTANCE = 1000
MAX_MAPPING_FILE_BYTES = 4 * 1024 * 1024
TOO_LONG = (
    f"voice names are at most {MAX_VOICE_NAME} characters and engine voices at most "
    f"{MAX_ENGINE_VOICE}"
)


class VoicesSettings(ConfigBase):
    """``[voices]``: which engine voice a requested voice name means on each TTS instance.

    Names a table does not map reach the engine unchanged, so engine voice ids always work.
    Every ``[voices.<instance>]`` table lands in ``mapping`` (``extra_keys_field``).
    """

    extra_keys_field: ClassVar[str | None] = "mapping"

    mapping_file: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "JSON file that `PUT /v1/audio/voices/mapping` saves the live mapping to and "
                "that start-up reads over the `[voices.<instance>]` tables, per instance it lists "
                "(unset: changes live until restart)."
            )
        ),
    ] = None
    # Typed loosely on purpose: ``check_config`` validates it and reports each bad entry with
    # its full TOML path (``voices.kokoro.alloy``), which msgspec's ``$[...]`` cannot.
    mapping: Annotated[
        dict[str, Any],
        msgspec.Meta(
            description=(
                "`[voices.<tts instance>]` tables of `voice = engine voice`: an OpenAI "
                "name or any alias, mapped to an engine voice id or a blend the engine parses "
                "(Kokoro: `a(2)+b(1)`). Names match case-insensitively."
            )
        ),
    ] = msgspec.field(default_factory=dict)


def voices_settings(config: ServerConfig) -> VoicesSettings | None:
    """This app's ``[voices]`` settings (``None`` when the config was not built with them)."""
    found = config.settings.get(TABLE)
    return found if isinstance(found, VoicesSettings) else None


def live_mapping(config: ServerConfig) -> VoiceMapping:
    """The live mapping, normalised by ``check_config`` (empty without a ``[voices]`` table)."""
    settings = voices_settings(config)
    return settings.mapping if settings is not None else {}


def tts_instances(config: ServerConfig) -> list[str]:
    """Names of the configured TTS instances, in file order."""
    return [instance.name for instance in config.instances_for("tts")]


def mapping_path(settings: VoicesSettings) -> Path | None:
    """``mapping_file`` with ``~`` expanded (relative paths are from the working directory)."""
    return Path(settings.mapping_file).expanduser() if settings.mapping_file else None


# -- validation --------------------------------------------------------------------------------


def _type_name(value: object) -> str:
    names = {dict: "a table", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), "an integer" if isinstance(value, int) else "a number")


def validate_mapping(
    raw: Mapping[str, Any], instances: list[str]
) -> tuple[VoiceMapping, list[tuple[tuple[str, ...], str]]]:
    """Normalise ``{instance: {voice: spec}}``; problems come as (key path, message).

    Shared by the TOML table and the mapping file, so both read the same and fail the same.
    """
    mapping: VoiceMapping = {}
    problems: list[tuple[tuple[str, ...], str]] = []
    for instance, voices in raw.items():
        if instance not in instances:
            known = ", ".join(instances) or "none defined"
            problems.append(((instance,), f"is not a [tts.*] instance (TTS instances: {known})"))
            continue
        if not isinstance(voices, dict):
            problems.append(
                ((instance,), f"expected a table of voice names, got {_type_name(voices)}")
            )
            continue
        table, table_problems = _voices(instance, voices)
        problems.extend(table_problems)
        mapping[instance] = table
    return mapping, problems


def _voices(
    instance: str, voices: dict[str, Any]
) -> tuple[dict[str, str], list[tuple[tuple[str, ...], str]]]:
    table: dict[str, str] = {}
    written: dict[str, str] = {}
    problems: list[tuple[tuple[str, ...], str]] = []
    for voice, spec in voices.items():
        where = (instance, voice)
        key = voice.casefold()
        if not isinstance(spec, str):
            problems.append((where, f"expected a string (an engine voice), got {_type_name(spec)}"))
        elif not spec.strip() or not key.strip():
            problems.append((where, "voice names and engine voices must not be empty"))
        elif len(voice) > MAX_VOICE_NAME or len(spec) > MAX_ENGINE_VOICE:
            problems.append((where, TOO_LONG))
        elif key in written:
            problems.append(
                (where, f"same name as {written[key]!r} (voice names are case-insensitive)")
            )
        else:
            written[key] = voice
            table[key] = spec
    if len(table) > MAX_VOICES_PER_INSTANCE:
        problems.append(((instance,), too_many_voices(instance, len(table))))
    return table, problems


def too_many_voices(instance: str, count: int) -> str:
    """The problem of a table over ``MAX_VOICES_PER_INSTANCE``."""
    return f"maps {count} voices on `{instance}`; the limit is {MAX_VOICES_PER_INSTANCE}"


def toml_problems(problems: list[tuple[tuple[str, ...], str]]) -> Iterator[ConfigProblem]:
    """Problems of the ``[voices.<instance>]`` tables, each at its TOML path."""
    for parts, message in problems:
        yield ConfigProblem(join_path(TABLE, *parts), message)


# -- the mapping file --------------------------------------------------------------------------


class MappingFileError(Exception):
    """The mapping file cannot be read or does not hold ``{instance: {voice: spec}}``."""


def read_mapping_file(path: Path, instances: list[str]) -> VoiceMapping | None:
    """The saved mapping, ``None`` if the file does not exist yet; ``MappingFileError`` if bad."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_MAPPING_FILE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MappingFileError(f"cannot read {path}: {exc.strerror}") from exc
    if len(data) > MAX_MAPPING_FILE_BYTES:
        raise MappingFileError(f"{path} is over {MAX_MAPPING_FILE_BYTES // 2**20} MiB")
    try:
        raw = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise MappingFileError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        msg = f'{path} must hold a JSON object {{"instance": {{"voice": "engine voice"}}}}'
        raise MappingFileError(msg)
    mapping, problems = validate_mapping(raw, instances)
    if problems:
        details = "; ".join(f"{join_path(*parts)}: {message}" for parts, message in problems)
        raise MappingFileError(f"{path}: {details}")
    return mapping


def write_mapping_file(path: Path, mapping: VoiceMapping) -> None:
    """Replace the file atomically: readers (and a crash) see the old or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(msgspec.json.format(msgspec.json.encode(mapping), indent=2) + b"\n")
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def load(settings: VoicesSettings, instances: list[str]) -> list[ConfigProblem]:
    """Normalise the TOML mapping and lay the mapping file over it, per instance it lists.

    The file holds the whole live mapping as last saved (removals included), so an instance
    it lists takes the file's table as is; instances it does not list keep their TOML table.
    Idempotent, as ``check_config`` may run more than once on one config.
    """
    mapping, problems = validate_mapping(settings.mapping, instances)
    found = list(toml_problems(problems))
    path = mapping_path(settings)
    saved: VoiceMapping | None = None
    if path is not None:
        try:
            saved = read_mapping_file(path, instances)
        except MappingFileError as exc:
            found.append(ConfigProblem(join_path(TABLE, "mapping_file"), str(exc)))
    if not found:
        settings.mapping = {**mapping, **(saved or {})}
    return found
