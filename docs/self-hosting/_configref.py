"""Generate the tables of ``configuration.md`` from voxgate's config Structs (run by cog).

``cog -r docs/self-hosting/configuration.md`` rewrites the generated parts; CI runs
``cog --check`` on the same file, so the reference cannot drift from ``voxgate.config``.
Descriptions come from ``Annotated[..., msgspec.Meta(description=...)]`` on each field.
"""

from __future__ import annotations

import inspect
import json
import math
from typing import Any

import msgspec
import msgspec.inspect as mi

from voxgate import config
from voxgate.plugins.hooks import Hooks
from voxgate.plugins.manager import BUILTIN_DISTRIBUTION, make_plugin_manager

CORE_TABLES: tuple[tuple[str, type[msgspec.Struct]], ...] = (
    ("[server]", config.ServerSettings),
    ("[auth]", config.AuthSettings),
    ("[logging]", config.LoggingSettings),
    ("[plugins]", config.PluginsSettings),
    ("[transcoder]", config.TranscoderSettings),
    ("[state]", config.StateSettings),
)

_SCALARS: dict[type[mi.Type], str] = {
    mi.StrType: "string",
    mi.IntType: "integer",
    mi.FloatType: "float",
    mi.BoolType: "boolean",
    mi.AnyType: "any",
}
_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


def type_name(info: mi.Type) -> str:
    """A field's type in TOML words, with its numeric bounds: ``integer (>= 0, <= 65535)``."""
    if isinstance(info, mi.Metadata):
        return type_name(info.type)
    if isinstance(info, mi.UnionType):
        return " or ".join(type_name(t) for t in info.types if not isinstance(t, mi.NoneType))
    if isinstance(info, mi.LiteralType):
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in info.values)
    if isinstance(info, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        return f"list of {type_name(info.item_type)}"
    if isinstance(info, mi.DictType):
        return f"table of {type_name(info.value_type)}"
    return _scalar_name(info)


def _scalar_name(info: mi.Type) -> str:
    if isinstance(info, mi.StructType):
        return "table"
    name = _SCALARS.get(type(info), type(info).__name__.removesuffix("Type").lower())
    limits = [(op, getattr(info, attr, None)) for attr, op in _BOUNDS]
    bounds = [f"{op} {value}" for op, value in limits if value is not None]
    return f"{name} ({', '.join(bounds)})" if bounds else name


def description(info: mi.Type) -> str:
    """The ``Meta(description=...)`` of a field, outermost first."""
    while isinstance(info, mi.Metadata):
        text = (info.extra_json_schema or {}).get("description")
        if text:
            return str(text)
        info = info.type
    return ""


def toml_value(value: Any) -> str:
    """A default as it would be written in the TOML file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, msgspec.Struct):
        value = msgspec.to_builtins(value)
    if isinstance(value, dict):
        items = (f"{k} = {toml_value(v)}" for k, v in value.items() if v is not None)
        return "{ " + ", ".join(items) + " }"
    return str(value)


def default(field: mi.Field) -> str:
    """The Default cell: *required*, *unset* (``None``), or the TOML literal."""
    if field.required:
        return "*required*"
    value = field.default if field.default is not msgspec.NODEFAULT else field.default_factory()
    return "*unset*" if value is None else f"`{toml_value(value)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def field_table(struct: type[msgspec.Struct]) -> str:
    """``Field | Type | Default | Description``, one row per field in declaration order."""
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    rows = ["| Field | Type | Default | Description |", "|---|---|---|---|"]
    for field in info.fields:
        cells = [f"`{field.encode_name}`", type_name(field.type), default(field)]
        cells.append(description(field.type))
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if not info.fields:
        rows.append("| *(no keys)* | | | |")
    return "\n".join(rows)


def summary(obj: type) -> str:
    """The first paragraph of a class docstring, with reST double backticks made Markdown."""
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ").replace("``", "`")


def section(title: str, struct: type[msgspec.Struct], level: int = 3) -> str:
    """A heading, the Struct's summary and its field table."""
    return f"{'#' * level} `{title}`\n\n{summary(struct)}\n\n{field_table(struct)}\n"


def core_tables() -> str:
    """Every core top-level table."""
    return "\n".join(section(title, struct) for title, struct in CORE_TABLES)


def env_overrides() -> str:
    """The environment variables that override a key, from ``config.ENV_OVERRIDES``."""
    rows = ["| Variable | Overrides | Value |", "|---|---|---|"]
    for var, (table, key, kind) in config.ENV_OVERRIDES.items():
        value = {int: "an integer", list: "comma-separated list"}.get(kind, "a string")
        rows.append(f"| `{var}` | `{table}.{key}` | {value} |")
    return "\n".join(rows)


def _state_kinds(registry: Any, builtin: set[str]) -> list[str]:
    """A section per built-in ``[state]`` kind, with the URL schemes that pick it."""
    parts = []
    for kind, store in sorted(registry.state.items()):
        if registry.owners.get(("state", kind)) in builtin:
            schemes = ", ".join(f"`{scheme}://`" for scheme in sorted(store.schemes))
            parts.append(
                f"### `[state] {kind}`\n\n{summary(store)} URL schemes: {schemes}.\n\n"
                f"{field_table(store.Config)}\n"
            )
    return parts


def builtin_kinds() -> str:
    """The ``Config`` of every kind and settings table that voxgate's built-in plugins register."""
    pm = make_plugin_manager(load=[], trace=False)
    registry = Hooks(pm).registry
    builtin = {
        name for name, origin in pm.origins.items() if origin.distribution == BUILTIN_DISTRIBUTION
    }
    parts: list[str] = []
    for task in config.TASKS:
        kinds: dict[str, Any] = getattr(registry, task)
        for kind, cls in sorted(kinds.items()):
            if registry.owners.get((task, kind)) not in builtin:
                continue
            title = f'[{task}.<name>] kind = "{kind}"'
            parts.append(f"### `{title}`\n\n{summary(cls)}\n\n{field_table(cls.Config)}\n")
    for kind, transcoder in sorted(registry.transcoder.items()):
        if registry.owners.get(("transcoder", kind)) in builtin:
            title = f'[transcoder] kind = "{kind}"'
            parts.append(
                f"### `{title}`\n\n{summary(transcoder)}\n\n{field_table(transcoder.Config)}\n"
            )
    parts.extend(_state_kinds(registry, builtin))
    for name, struct in sorted(registry.settings.items()):
        if registry.owners.get(("settings", name)) in builtin:
            parts.append(section(f"[{name}]", struct))
    if not parts:
        return "*No built-in plugin registers an engine kind or a settings table yet.*\n"
    return "\n".join(parts)
