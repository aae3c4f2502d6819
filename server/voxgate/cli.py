"""``voxgate serve | check-config | plugins | models``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from typing import TYPE_CHECKING

import msgspec

from voxgate import __version__
from voxgate.config import ConfigError, build_config, read_toml
from voxgate.plugins.hooks import Hooks
from voxgate.plugins.installed import config_path, discover, installed_plugins
from voxgate.plugins.registry import PluginError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from voxgate.config import ModelRoute, ServerConfig, Task
    from voxgate.plugins.manager import PluginManager

EXIT_CONFIG = 1
EXIT_PLUGINS = 2
EXIT_STARTUP = 3  # uvicorn's own code when the server could not start
AFTER_DRAIN_SECONDS = 2


def prepare(config_file: str | None) -> tuple[PluginManager, ServerConfig]:
    """Read the config's ``[plugins]`` table, load the plugins, then validate the whole file."""
    raw, source = read_toml(config_path(config_file))
    pm = discover(raw)
    return pm, build_config(raw, Hooks(pm), source=source)


def _fail(message: str, code: int) -> int:
    print(message, file=sys.stderr)
    return code


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the server (uvicorn) on the configured host and port."""
    import uvicorn  # noqa: PLC0415 - only `serve` needs it

    from voxgate.app import create_app  # noqa: PLC0415
    from voxgate.logging import configure_logging  # noqa: PLC0415
    from voxgate.serving import DrainingServer  # noqa: PLC0415

    pm, config = prepare(args.config)
    server = msgspec.structs.replace(
        config.server,
        host=args.host if args.host is not None else config.server.host,
        port=args.port if args.port is not None else config.server.port,
    )
    config = dataclasses.replace(config, server=server)
    configure_logging(
        args.log_format or config.logging.format, args.log_level or config.logging.level
    )
    app = create_app(config, pm)
    uvicorn_config = uvicorn.Config(
        app,
        host=server.host,
        port=server.port,
        log_config=None,
        access_log=False,
        # after the drain (or on a second signal): what is left gets this long
        timeout_graceful_shutdown=AFTER_DRAIN_SECONDS,
        ws="websockets-sansio",  # the maintained websockets implementation (not "legacy")
        ws_max_size=16 * 1024 * 1024,
    )
    uvicorn_server = DrainingServer(uvicorn_config, app.state.runtime.drain)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn_server.run()
    return 0 if uvicorn_server.started else EXIT_STARTUP


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a config file without loading any engine; print a summary or every problem."""
    _, config = prepare(args.file)
    tasks: list[Task] = ["stt", "tts", "chat"]
    if config.instances_for("diarize"):  # only then: summaries without diarizers stay as they were
        tasks.append("diarize")
    counts = ", ".join(f"{len(config.instances_for(task))} {task}" for task in tasks)
    keys = config.api_keys()
    print(f"OK: {config.source}")
    print(f"  instances: {counts}")
    for inst in config.instances.values():
        print(f"    [{inst.task}.{inst.name}] kind={inst.kind} preload={inst.settings.preload}")
    print(f"  model ids: {', '.join(config.model_ids()) or '(none)'}")
    transcoder = config.transcoder
    print(f"  transcoder: {transcoder.kind if transcoder else 'none (uploads must be raw PCM)'}")
    print(f"  listen: {config.server.host}:{config.server.port}")
    print(f"  auth: {f'{len(keys)} API key(s)' if keys else 'open (no API keys)'}")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    """List the plugins a server would load, then check the config file.

    A broken config never hides the list: its problems are printed after it (to stderr) and
    only they make the exit status non-zero. A file that is not even readable TOML selects
    nothing, so the list is then what the environment alone selects.
    """
    unreadable: ConfigError | None = None
    try:
        infos = list(installed_plugins(args.config).values())
    except ConfigError as exc:
        unreadable = exc
        infos = Hooks(discover({})).plugin_infos()
    if args.json:
        print(json.dumps(msgspec.to_builtins(infos), indent=2))
    else:
        for info in infos:
            origin = f"{info.distribution} {info.version}" if info.distribution else "in-process"
            print(f"{info.name}  ({origin})")
            print(f"  hooks: {', '.join(info.hooks) or '-'}")
            kinds = "; ".join(f"{cat}: {', '.join(names)}" for cat, names in info.kinds.items())
            print(f"  kinds: {kinds or '-'}")
    sys.stdout.flush()
    if unreadable is not None:
        return _fail(f"voxgate: {unreadable}", EXIT_CONFIG)
    prepare(args.config)  # a ConfigError here is reported by main(), after the list
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """List the model ids ``/v1/models`` serves and where each one routes, then the patterns.

    Patterns come last, in the order they are tried (most specific first).
    """
    _, config = prepare(args.config)
    for model_id in config.model_ids():
        route = config.models.get(model_id)
        if route is None:
            inst = config.instances[model_id]
            print(f"{model_id}  -> {inst.task} instance (kind {inst.kind})")
        else:
            print(f"{model_id}  -> {_targets(route)}")
    for pattern in config.model_patterns:
        print(f"{pattern}  -> {_targets(config.models[pattern])}  (pattern)")
    return 0


def _targets(route: ModelRoute) -> str:
    tasks = ("stt", "tts", "chat", "diarize")
    targets = (f"{t}={getattr(route, t)}" for t in tasks if getattr(route, t))
    return ", ".join(targets)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (separate so docs and tests can inspect it)."""
    parser = argparse.ArgumentParser(prog="voxgate", description=__doc__)
    parser.add_argument("--version", action="version", version=f"voxgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the server")
    serve.add_argument("--config", help="TOML file (default: VOXGATE_CONFIG, else built-in)")
    serve.add_argument("--host", help="interface to bind (overrides the config)")
    serve.add_argument("--port", type=int, help="port to bind (overrides the config)")
    serve.add_argument("--log-format", choices=["auto", "json", "console"])
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check-config", help="validate a config file and report every problem")
    check.add_argument("file", nargs="?", help="TOML file (default: VOXGATE_CONFIG, else built-in)")
    check.set_defaults(func=cmd_check_config)

    plugins = sub.add_parser("plugins", help="list loaded plugins")
    plugins.add_argument("--config", help="TOML file whose [plugins] table selects plugins")
    plugins.add_argument("--json", action="store_true", help="print JSON (as GET /-/plugins)")
    plugins.set_defaults(func=cmd_plugins)

    models = sub.add_parser("models", help="list served model ids and their routes")
    models.add_argument("--config", help="TOML file")
    models.set_defaults(func=cmd_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``voxgate`` command."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        return _fail(f"voxgate: {exc}", EXIT_CONFIG)
    except PluginError as exc:
        return _fail(f"voxgate: plugin error: {exc}", EXIT_PLUGINS)
    return code
