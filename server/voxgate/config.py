"""The configuration: core tables as Structs, instance tables decoded through plugin kinds.

``voxgate serve`` with no file reads the embedded ``default.toml``. Every table is decoded with
unknown keys forbidden, and validation collects *every* problem with its TOML path before
failing, so one ``voxgate check-config`` run shows everything to fix. Secrets never sit in the
file: ``[auth] api_key_envs`` names environment variables.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec

from voxgate.errors import param_from_msgspec
from voxgate.model_patterns import by_precedence, first_match, is_pattern
from voxgate.redaction import redact_url
from voxgate.schema import ConfigBase, ConfigProblem

if TYPE_CHECKING:
    from collections.abc import Mapping

    from voxgate.plugins.hooks import Hooks
    from voxgate.state import StateStore

Task = Literal["stt", "tts", "chat", "diarize"]
"""An instance table, and what a model id is resolved for: ``resolve_model(model, task, config)``.

Public (``voxgate.Task``) so a ``resolve_model`` implementation can annotate its ``task``.
"""
TASKS: tuple[Task, ...] = ("stt", "tts", "chat", "diarize")
DEFAULT_SOURCE = "<embedded default>"
OPENAI_UPLOAD_LIMIT = 26_214_400  # 25 MiB, what api.openai.com accepts


def _describe(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class ServerSettings(ConfigBase):
    """``[server]``: where to listen and the limits every request meets."""

    host: Annotated[str, _describe("Interface to bind; env VOXGATE_HOST.")] = "127.0.0.1"
    port: Annotated[
        int, msgspec.Meta(ge=0, le=65535, description="TCP port (0: any free); env VOXGATE_PORT.")
    ] = 8000
    max_upload_bytes: Annotated[
        int, msgspec.Meta(ge=1, description="Largest request body accepted (413 beyond).")
    ] = OPENAI_UPLOAD_LIMIT
    max_decoded_audio_bytes: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            description=(
                "Decoded upload audio held in memory at once, all transcriptions together "
                "(float32: 64 kB a second at 16 kHz; the default fits one 4-hour upload). "
                "Engines that read uploads in windows (faster-whisper) hold two windows a "
                "request, others the whole upload. Beyond it: 503 with Retry-After."
            ),
        ),
    ] = 1 << 30
    cors_origins: Annotated[
        list[str], _describe("Origins allowed by CORS (`*` for any); env VOXGATE_CORS_ORIGINS.")
    ] = msgspec.field(default_factory=list)
    cache_dir: Annotated[
        str | None, _describe("Where unpacked and downloaded models go; env VOXGATE_CACHE_DIR.")
    ] = None
    offline: Annotated[
        bool,
        _describe(
            "Never download models: model sources read only local files and their cache "
            "(`hf:` also honours HF_HUB_OFFLINE=1)."
        ),
    ] = False
    shutdown_timeout: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description=(
                "Seconds running requests get to finish after SIGTERM (new ones get 503 "
                "meanwhile); what still runs then ends with an error."
            ),
        ),
    ] = 10.0
    send_timeout: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description=(
                "Seconds a response may wait on a client that does not read it; then the "
                "response is abandoned, its connection closed and its engine freed."
            ),
        ),
    ] = 30.0
    max_websockets: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            description=(
                "WebSocket sessions open at once (realtime and live transcription); beyond: "
                "the handshake gets 503."
            ),
        ),
    ] = 256
    websocket_idle_timeout: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description=(
                "Seconds a WebSocket session may go without a frame from its client; then it "
                "is closed (1000, reason `idle`), so idle sockets cannot hold every slot."
            ),
        ),
    ] = 300.0
    metrics: Annotated[
        Literal["key", "open", "off"],
        _describe(
            "GET /metrics (Prometheus): `key` needs an API key when keys are configured "
            "(open when none are), `open` never needs one, `off` removes the route and "
            "collects nothing."
        ),
    ] = "key"


class AuthSettings(ConfigBase):
    """``[auth]``: API keys. Keys live in environment variables, never in the file."""

    api_key_envs: Annotated[
        list[str],
        _describe(
            "Names of environment variables holding comma-separated API keys "
            "(VOXGATE_API_KEYS is always read too). No keys: the API is open."
        ),
    ] = msgspec.field(default_factory=list)


class LoggingSettings(ConfigBase):
    """``[logging]``: structured logs, JSON when stderr is not a terminal."""

    format: Annotated[
        Literal["auto", "json", "console"],
        _describe("auto: console on a TTY, JSON otherwise; env VOXGATE_LOG_FORMAT."),
    ] = "auto"
    level: Annotated[
        Literal["debug", "info", "warning", "error"], _describe("env VOXGATE_LOG_LEVEL.")
    ] = "info"


class PluginsSettings(ConfigBase):
    """``[plugins]``: which installed plugins load (read before anything else)."""

    load: Annotated[
        list[str] | None,
        _describe(
            "Third-party plugins to load, by entry-point or distribution name "
            "(unset: all; []: none); env VOXGATE_LOAD_PLUGINS."
        ),
    ] = None
    disable: Annotated[
        list[str],
        _describe("Plugins never to load, built-ins included; env VOXGATE_DISABLE_PLUGINS."),
    ] = msgspec.field(default_factory=list)


DEFAULT_TRANSCODER = "pyav"


class TranscoderSettings(ConfigBase):
    """``[transcoder]``: which transcoder decodes uploads and encodes responses.

    The table also takes the chosen kind's own keys. Only the kind named here is used, so an
    installed third-party transcoder never replaces PyAV unless the config says so.
    """

    kind: Annotated[
        str,
        _describe(
            "The registered transcoder kind (`voxgate plugins` lists them). When the default "
            "`pyav` is disabled and the table sets nothing, uploads must be raw PCM."
        ),
    ] = DEFAULT_TRANSCODER


DEFAULT_STATE_URL = "memory://"


class StateSettings(ConfigBase):
    """``[state]``: where state shared across requests and replicas lives.

    The URL's scheme picks the store kind; the table also takes that kind's own keys. Keep
    credentials out of the file: set VOXGATE_STATE_URL, or the kind's ``password_env``.
    """

    url: Annotated[
        str,
        _describe(
            "`memory://` (one process: the default) or `redis://host:6379/0` (`rediss://`, "
            "`unix://`: any Redis or Valkey server, shared by every replica naming it); "
            "env VOXGATE_STATE_URL."
        ),
    ] = DEFAULT_STATE_URL


class InstanceSettings(ConfigBase):
    """Keys every ``[stt.*]``, ``[tts.*]``, ``[diarize.*]`` and ``[chat.*]`` table accepts."""

    kind: Annotated[str, _describe("The registered kind this instance runs.")]
    preload: Annotated[bool, _describe("Load at start-up; /ready waits for it.")] = False
    idle_ttl: Annotated[
        Annotated[float, msgspec.Meta(gt=0)] | None,
        _describe("Unload after this many idle seconds (unset: never)."),
    ] = None
    concurrency: Annotated[
        int, msgspec.Meta(ge=1, le=256, description="Requests served at once (worker threads).")
    ] = 1
    max_queue: Annotated[
        int, msgspec.Meta(ge=0, description="Requests allowed to wait; beyond: 429.")
    ] = 16
    queue_timeout: Annotated[
        float, msgspec.Meta(gt=0, description="Seconds a request may wait in the queue; then 503.")
    ] = 300.0


class ModelRoute(ConfigBase):
    """A ``[models]`` entry as a table: which instance serves each task for this model id."""

    stt: Annotated[str | None, _describe("The [stt.*] instance that transcribes for this id.")] = (
        None
    )
    tts: Annotated[str | None, _describe("The [tts.*] instance that speaks for this id.")] = None
    chat: Annotated[str | None, _describe("The [chat.*] proxy that answers for this id.")] = None
    diarize: Annotated[
        str | None,
        _describe(
            "The [diarize.*] instance that says who spoke when (response_format=diarized_json)."
        ),
    ] = None
    owned_by: Annotated[str, _describe("`owned_by` in /v1/models.")] = "voxgate"


@dataclass(frozen=True)
class InstanceConfig:
    """A named engine (or chat proxy) instance: core settings plus the kind's own options."""

    name: str
    task: Task
    settings: InstanceSettings
    options: ConfigBase

    @property
    def kind(self) -> str:
        """The registered kind."""
        return self.settings.kind


@dataclass(frozen=True)
class TranscoderConfig:
    """The transcoder the server uses: the ``[transcoder]`` kind and that kind's options."""

    kind: str
    options: ConfigBase


@dataclass(frozen=True)
class StateConfig:
    """The state store the server uses: its kind, URL and that kind's options."""

    kind: str
    url: str
    options: ConfigBase


@dataclass(frozen=True)
class ServerConfig:
    """The whole validated configuration; built only by ``build_config``.

    Public (``voxgate.ServerConfig``) because hooks receive it (``check_config``,
    ``resolve_model``, ``map_voice``, ``register_litestar_plugins``): a plugin reads the
    instances (``instances``, ``instances_for(task)``), the ``[models]`` aliases and the table
    it claimed with ``register_settings`` (``settings[name]``). Treat it as read-only.
    """

    server: ServerSettings = field(default_factory=ServerSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    plugins: PluginsSettings = field(default_factory=PluginsSettings)
    transcoder: TranscoderConfig | None = None  # None: no transcoder (default `pyav` absent)
    state: StateConfig | None = None  # None only for a hand-built config: the app uses memory
    instances: dict[str, InstanceConfig] = field(default_factory=dict)
    models: dict[str, ModelRoute] = field(default_factory=dict)
    settings: dict[str, msgspec.Struct] = field(default_factory=dict)
    source: str = DEFAULT_SOURCE

    def instances_for(self, task: Task) -> list[InstanceConfig]:
        """The instances of one table, in file order."""
        return [inst for inst in self.instances.values() if inst.task == task]

    def model_ids(self) -> list[str]:
        """Every id ``/v1/models`` lists: engine instance names, then aliases (never a pattern)."""
        ids = [
            name
            for name, inst in self.instances.items()
            if name not in self.models and inst.task in {"stt", "tts"}
        ]
        return ids + [alias for alias in self.models if not is_pattern(alias)]

    @cached_property
    def model_patterns(self) -> list[str]:
        """The ``[models]`` keys that are glob patterns, in the order they are tried.

        Most specific first, then config order (``voxgate.model_patterns`` says why).
        """
        return by_precedence(key for key in self.models if is_pattern(key))

    def pattern_route(self, model: str, task: Task | None = None) -> tuple[str, ModelRoute] | None:
        """The pattern ``model`` falls under, and its route; ``None`` if none matches.

        With ``task``, only patterns naming an instance for that task compete, so that
        ``"gpt-realtime*" = { chat = ... }`` never hides ``"gpt-*whisper*" = "whisper-base"``
        from a transcription. Exact keys and instance names are the caller's to check first.
        """
        candidates = [
            key
            for key in self.model_patterns
            if task is None or getattr(self.models[key], task) is not None
        ]
        key = first_match(candidates, model)
        return (key, self.models[key]) if key is not None else None

    def cache_path(self) -> Path:
        """``server.cache_dir``, else ``$XDG_CACHE_HOME/voxgate``."""
        if self.server.cache_dir:
            return Path(self.server.cache_dir).expanduser()
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "voxgate"

    def api_keys(self, environ: Mapping[str, str] | None = None) -> frozenset[str]:
        """Keys from VOXGATE_API_KEYS and every variable ``[auth] api_key_envs`` names."""
        env = os.environ if environ is None else environ
        names = ["VOXGATE_API_KEYS", *self.auth.api_key_envs]
        keys = {k.strip() for name in names for k in env.get(name, "").split(",")}
        return frozenset(k for k in keys if k)


class ConfigError(Exception):
    """The configuration has problems; ``problems`` lists every one with its TOML path."""

    def __init__(self, problems: list[ConfigProblem], source: str) -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{len(problems)} problem(s) in {source}:\n{lines}")


CORE_TABLES: dict[str, type[ConfigBase] | None] = {
    "server": ServerSettings,
    "auth": AuthSettings,
    "logging": LoggingSettings,
    "plugins": PluginsSettings,
    "transcoder": None,
    "state": None,
    "models": None,
    "stt": None,
    "tts": None,
    "chat": None,
    "diarize": None,
}

# Environment variables people set per deployment, and the TOML key each overrides.
ENV_OVERRIDES: dict[str, tuple[str, str, type]] = {
    "VOXGATE_HOST": ("server", "host", str),
    "VOXGATE_PORT": ("server", "port", int),
    "VOXGATE_CORS_ORIGINS": ("server", "cors_origins", list),
    "VOXGATE_CACHE_DIR": ("server", "cache_dir", str),
    "VOXGATE_STATE_URL": ("state", "url", str),
    "VOXGATE_LOG_FORMAT": ("logging", "format", str),
    "VOXGATE_LOG_LEVEL": ("logging", "level", str),
    "VOXGATE_LOAD_PLUGINS": ("plugins", "load", list),
    "VOXGATE_DISABLE_PLUGINS": ("plugins", "disable", list),
}


def default_toml() -> str:
    """The embedded default configuration (``config/voxgate.toml`` is kept equal by a test)."""
    return resources.files("voxgate").joinpath("default.toml").read_text(encoding="utf-8")


def read_toml(path: Path | None) -> tuple[dict[str, Any], str]:
    """Parse a config file (or the embedded default) into a raw dict and a source label."""
    if path is None:
        return parse_toml(default_toml(), DEFAULT_SOURCE), DEFAULT_SOURCE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem("", f"cannot read {path}: {exc.strerror}")], str(path)
        ) from exc
    return parse_toml(text, str(path)), str(path)


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """``tomllib.loads`` with syntax errors turned into a ``ConfigError``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigProblem("", f"invalid TOML: {exc}")], source) from exc


def apply_env_overrides(
    raw: dict[str, Any], environ: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """A copy of ``raw`` with deployment variables applied; bad values become problems."""
    env = os.environ if environ is None else environ
    merged = {key: dict(value) if isinstance(value, dict) else value for key, value in raw.items()}
    problems: list[ConfigProblem] = []
    for var, (table, key, kind) in ENV_OVERRIDES.items():
        value = env.get(var)
        if value is None:
            continue
        converted: Any = value
        if kind is int:
            try:
                converted = int(value)
            except ValueError:
                problems.append(ConfigProblem(f"env {var}", f"expected an integer, got {value!r}"))
                continue
        elif kind is list:
            converted = [item.strip() for item in value.split(",") if item.strip()]
        section = merged.setdefault(table, {})
        if isinstance(section, dict):
            section[key] = converted
    return merged, problems


def load_config(
    path: Path | None, hooks: Hooks, environ: Mapping[str, str] | None = None
) -> ServerConfig:
    """Read, override from the environment, validate; raise ``ConfigError`` listing everything."""
    raw, source = read_toml(path)
    return build_config(raw, hooks, source=source, environ=environ)


def load_config_from_str(
    text: str, hooks: Hooks, *, source: str = "<string>", environ: Mapping[str, str] | None = None
) -> ServerConfig:
    """``load_config`` for TOML text (tests and embedding)."""
    return build_config(parse_toml(text, source), hooks, source=source, environ=environ)


def build_config(
    raw: Mapping[str, Any],
    hooks: Hooks,
    *,
    source: str = "<string>",
    environ: Mapping[str, str] | None = None,
) -> ServerConfig:
    """Validate a parsed TOML document into a ``ServerConfig``, collecting every problem."""
    merged, problems = apply_env_overrides(dict(raw), environ)
    config = _Validator(hooks, problems).validate(merged, source, environ)
    if problems:
        raise ConfigError(problems, source)
    problems.extend(hooks.check_config(config))
    if problems:
        raise ConfigError(problems, source)
    return config


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_key(key: str) -> str:
    """A key as it is written in a TOML path: bare when it can be, quoted otherwise."""
    return key if _BARE_KEY.match(key) else '"' + key.replace('"', '\\"') + '"'


def join_path(*parts: str) -> str:
    """``join_path("models", "a/b")`` -> ``models."a/b"``: a TOML path, keys quoted as needed.

    Public (``voxgate.join_path``) so a plugin's ``ConfigProblem`` paths are written as the
    core writes its own (``voices."my voice"``), for any key a user chose.
    """
    return ".".join(toml_key(part) for part in parts)


def decode_table(
    value: object,
    struct: type[msgspec.Struct],
    path: str,
    problems: list[ConfigProblem],
    *,
    also_known: frozenset[str] = frozenset(),
) -> Any:
    """Decode one table into ``struct``, reporting each bad key separately; ``None`` if bad.

    ``also_known`` names keys another Struct of the same table accepts, so that an unknown
    key's message lists everything the table takes.
    """
    if not isinstance(value, dict):
        problems.append(ConfigProblem(path, f"expected a table, got {_type_name(value)}"))
        return None
    fields = {f.encode_name: f for f in msgspec.structs.fields(struct)}
    value = _collect_extra_keys(value, struct, fields)
    before = len(problems)
    for key, item in value.items():
        item_path = f"{path}.{toml_key(key)}" if path else toml_key(key)
        spec = fields.get(key)
        if spec is None:
            known = ", ".join(sorted({*fields, *also_known})) or "none"
            problems.append(ConfigProblem(item_path, f"unknown key (known keys: {known})"))
            continue
        try:
            msgspec.convert(item, spec.type)
        except msgspec.ValidationError as exc:
            message, sub = param_from_msgspec(str(exc))
            problems.append(ConfigProblem(item_path + _subpath(sub), _config_message(message)))
    for name, spec in fields.items():
        if spec.required and name not in value:
            problems.append(ConfigProblem(f"{path}.{toml_key(name)}", "missing required key"))
    if len(problems) > before:
        return None
    try:
        return msgspec.convert(value, struct)
    except msgspec.ValidationError as exc:
        message, sub = param_from_msgspec(str(exc))
        problems.append(ConfigProblem(path + _subpath(sub), _config_message(message)))
        return None


def _collect_extra_keys(
    value: dict[str, Any], struct: type[msgspec.Struct], fields: Mapping[str, Any]
) -> dict[str, Any]:
    """Move undeclared keys into the Struct's ``extra_keys_field`` dict, if it names one."""
    extra_field = getattr(struct, "extra_keys_field", None)
    if extra_field is None:
        return value
    extras = {key: item for key, item in value.items() if key not in fields}
    if not extras:
        return value
    declared = {key: item for key, item in value.items() if key in fields}
    existing = declared.get(extra_field, {})
    declared[extra_field] = {**existing, **extras} if isinstance(existing, dict) else existing
    return declared


def _subpath(sub: str | None) -> str:
    if not sub:
        return ""
    return sub if sub.startswith("[") else "." + sub


def _config_message(message: str) -> str:
    """Msgspec's wording with TOML's type names (tables, not objects)."""
    return message.replace("`object`", "`table`").replace("`array`", "`list`")


def _type_name(value: object) -> str:
    names = {dict: "a table", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), f"`{type(value).__name__}`")


class _Validator:
    """One validation pass; appends to ``problems`` instead of stopping at the first."""

    def __init__(self, hooks: Hooks, problems: list[ConfigProblem]) -> None:
        self.hooks = hooks
        self.problems = problems
        self.invalid_instances: dict[str, Task] = {}  # declared, with problems of their own

    def validate(
        self, raw: dict[str, Any], source: str, environ: Mapping[str, str] | None
    ) -> ServerConfig:
        registry = self.hooks.registry
        claimed = registry.settings
        for name in raw:
            if name not in CORE_TABLES and name not in claimed:
                known = ", ".join(sorted([*CORE_TABLES, *claimed]))
                self.problems.append(
                    ConfigProblem(toml_key(name), f"unknown top-level table (known: {known})")
                )
        core: dict[str, Any] = {}
        for name, core_struct in CORE_TABLES.items():
            if core_struct is not None:
                decoded = decode_table(raw.get(name, {}), core_struct, name, self.problems)
                core[name] = decoded if decoded is not None else core_struct()
        settings: dict[str, msgspec.Struct] = {}
        for name, struct in claimed.items():
            if name in CORE_TABLES:
                self.problems.append(ConfigProblem(name, "a plugin claimed a core table"))
                continue
            decoded = decode_table(raw.get(name, {}), struct, name, self.problems)
            if decoded is not None:
                settings[name] = decoded
        transcoder = self._transcoder(raw.get("transcoder", {}))
        state = self._state(raw.get("state", {}))
        instances = self._instances(raw)
        models = self._models(raw.get("models", {}), instances)
        config = ServerConfig(
            server=core["server"],
            auth=core["auth"],
            logging=core["logging"],
            plugins=core["plugins"],
            transcoder=transcoder,
            state=state,
            instances=instances,
            models=models,
            settings=settings,
            source=source,
        )
        self._check_auth(config, environ)
        return config

    def _transcoder(self, body: object) -> TranscoderConfig | None:
        """The ``[transcoder]`` kind and its options; ``None`` when the default is absent."""
        if not isinstance(body, dict):
            self.problems.append(
                ConfigProblem("transcoder", f"expected a table, got {_type_name(body)}")
            )
            return None
        kinds = self.hooks.registry.transcoder
        core_keys = {f.encode_name for f in msgspec.structs.fields(TranscoderSettings)}
        core_part = {k: v for k, v in body.items() if k in core_keys}
        option_part = {k: v for k, v in body.items() if k not in core_keys}
        settings = decode_table(core_part, TranscoderSettings, "transcoder", self.problems)
        if settings is None:
            return None
        cls = kinds.get(settings.kind)
        if cls is None:
            if not body:  # nothing asked for: the default is simply not installed (or disabled)
                return None
            installed = ", ".join(sorted(kinds)) or "none installed"
            if "kind" in body:
                path, message = "transcoder.kind", f"unknown transcoder kind {settings.kind!r}"
            else:
                path = "transcoder"
                message = f"the default kind {settings.kind!r} is not installed; set `kind`"
            self.problems.append(ConfigProblem(path, f"{message} (installed: {installed})"))
            return None
        options = decode_table(
            option_part, cls.Config, "transcoder", self.problems, also_known=frozenset(core_keys)
        )
        if options is None:
            return None
        return TranscoderConfig(kind=settings.kind, options=options)

    def _state(self, body: object) -> StateConfig | None:
        """The ``[state]`` URL, the kind its scheme names, and that kind's options."""
        if not isinstance(body, dict):
            self.problems.append(
                ConfigProblem("state", f"expected a table, got {_type_name(body)}")
            )
            return None
        core_keys = {f.encode_name for f in msgspec.structs.fields(StateSettings)}
        core_part = {k: v for k, v in body.items() if k in core_keys}
        option_part = {k: v for k, v in body.items() if k not in core_keys}
        settings = decode_table(core_part, StateSettings, "state", self.problems)
        if settings is None:
            return None
        cls = self._state_kind(settings.url, given=bool(body))
        if cls is None:
            return None
        options = decode_table(
            option_part, cls.Config, "state", self.problems, also_known=frozenset(core_keys)
        )
        if options is None:
            return None
        return StateConfig(kind=cls.kind, url=settings.url, options=options)

    def _state_kind(self, url: str, *, given: bool) -> type[StateStore] | None:
        """The kind serving ``url``'s scheme; ``None`` (with a problem unless nothing is)."""
        registry = self.hooks.registry
        scheme, separator, _ = url.partition("://")
        cls = registry.state_kind(scheme.lower()) if separator else None
        if cls is None and not given and not registry.state:
            return None  # nothing asked, nothing installed: the runtime's one-process store
        if cls is None:
            schemes = sorted(s for kind in registry.state.values() for s in kind.schemes)
            known = ", ".join(f"{s}://" for s in schemes) or "none installed"
            message = f"no state store kind serves {redact_url(url)!r} (schemes: {known})"
            self.problems.append(ConfigProblem("state.url", message))
            return None
        try:
            _ = urlsplit(url).port
        except ValueError as exc:
            self.problems.append(ConfigProblem("state.url", f"not a valid URL: {exc}"))
            return None
        return cls

    def _instances(self, raw: Mapping[str, Any]) -> dict[str, InstanceConfig]:
        instances: dict[str, InstanceConfig] = {}
        core_keys = {f.encode_name for f in msgspec.structs.fields(InstanceSettings)}
        for task in TASKS:
            table = raw.get(task, {})
            if not isinstance(table, dict):
                self.problems.append(
                    ConfigProblem(task, f"expected a table, got {_type_name(table)}")
                )
                continue
            for name, body in table.items():
                path = join_path(task, name)
                if name in instances:
                    other = instances[name].task
                    self.problems.append(
                        ConfigProblem(
                            path, f"instance name already used by [{join_path(other, name)}]"
                        )
                    )
                    continue
                instance = self._instance(task, name, body, path, core_keys)
                if instance is not None:
                    instances[name] = instance
                else:
                    self.invalid_instances[name] = task
        return instances

    def _instance(
        self, task: Task, name: str, body: object, path: str, core_keys: set[str]
    ) -> InstanceConfig | None:
        if not isinstance(body, dict):
            self.problems.append(ConfigProblem(path, f"expected a table, got {_type_name(body)}"))
            return None
        registry = self.hooks.registry
        kinds: dict[str, Any] = getattr(registry, task)
        kind = body.get("kind")
        cls = kinds.get(kind) if isinstance(kind, str) else None
        if "kind" in body and cls is None:
            installed = ", ".join(sorted(kinds)) or "none installed"
            self.problems.append(
                ConfigProblem(
                    f"{path}.kind", f"unknown {task} kind {kind!r} (installed: {installed})"
                )
            )
        core_part = {k: v for k, v in body.items() if k in core_keys}
        option_part = {k: v for k, v in body.items() if k not in core_keys}
        settings = decode_table(core_part, InstanceSettings, path, self.problems)
        if cls is None:
            return None
        options = decode_table(
            option_part, cls.Config, path, self.problems, also_known=frozenset(core_keys)
        )
        if settings is None or options is None:
            return None
        return InstanceConfig(name=name, task=task, settings=settings, options=options)

    def _models(self, table: object, instances: dict[str, InstanceConfig]) -> dict[str, ModelRoute]:
        if not isinstance(table, dict):
            self.problems.append(
                ConfigProblem("models", f"expected a table, got {_type_name(table)}")
            )
            return {}
        models: dict[str, ModelRoute] = {}
        for alias, value in table.items():
            path = join_path("models", alias)
            if isinstance(value, str):
                target = instances.get(value)
                if target is None:
                    self._missing_instance(path, value, None, instances)
                    continue
                route = ModelRoute(**{target.task: value})
            else:
                decoded = decode_table(value, ModelRoute, path, self.problems)
                if decoded is None:
                    continue
                route = decoded
                targets = {
                    "stt": route.stt,
                    "tts": route.tts,
                    "chat": route.chat,
                    "diarize": route.diarize,
                }
                if not any(targets.values()):
                    self.problems.append(
                        ConfigProblem(path, "route names no stt, tts, chat or diarize instance")
                    )
                for task, target_name in targets.items():
                    found = instances.get(target_name) if target_name else None
                    if target_name and (found is None or found.task != task):
                        self._missing_instance(f"{path}.{task}", target_name, task, instances)  # type: ignore[arg-type]
            models[alias] = route
        return models

    def _missing_instance(
        self, path: str, name: str, task: Task | None, instances: dict[str, InstanceConfig]
    ) -> None:
        if name in self.invalid_instances and task in {None, self.invalid_instances[name]}:
            return  # its own table's problems are reported; a second message would mislead
        candidates = [i.name for i in instances.values() if task is None or i.task == task]
        where = f"[{task}.*]" if task else "[stt.*], [tts.*] or [chat.*]"
        known = ", ".join(candidates) or "none defined"
        self.problems.append(
            ConfigProblem(
                path,
                f"routes to instance {name!r}, which is not defined in {where} (defined: {known})",
            )
        )

    def _check_auth(self, config: ServerConfig, environ: Mapping[str, str] | None) -> None:
        env = os.environ if environ is None else environ
        for index, name in enumerate(config.auth.api_key_envs):
            if not env.get(name, "").strip():
                self.problems.append(
                    ConfigProblem(
                        f"auth.api_key_envs[{index}]",
                        f"environment variable {name} is not set; "
                        "refusing to start without its keys",
                    )
                )
