"""Build apps and clients for tests from a TOML string and an explicit plugin list.

No entry points and no globals: what a test sees is exactly the plugins it names (plus the
built-in ``routing``, ``state`` and ``voices`` plugins, unless ``builtins=False``).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from voxgate.app import create_app
from voxgate.config import load_config_from_str
from voxgate.plugins.hooks import Hooks
from voxgate.plugins.manager import make_plugin_manager

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence

    from litestar import Litestar
    from litestar.testing import AsyncTestClient
    from openai import AsyncOpenAI

    from voxgate.config import ServerConfig
    from voxgate.plugins.manager import PluginManager

TEST_BASE_URL = "http://testserver.local"


def with_builtins(plugins: Sequence[object], *, builtins: bool = True) -> list[object]:
    """``plugins`` plus the default-behaviour built-ins every server has."""
    if not builtins:
        return list(plugins)
    import voxgate_routing  # noqa: PLC0415
    import voxgate_state  # noqa: PLC0415
    import voxgate_voices  # noqa: PLC0415

    builtin = (voxgate_routing, voxgate_state, voxgate_voices)
    return [p for p in builtin if p not in plugins] + list(plugins)


def build_test_config(
    toml: str = "",
    plugins: Sequence[object] = (),
    *,
    builtins: bool = True,
    environ: Mapping[str, str] | None = None,
) -> tuple[ServerConfig, PluginManager]:
    """Validate ``toml`` against a manager holding exactly ``plugins``."""
    pm = make_plugin_manager(
        plugins=with_builtins(plugins, builtins=builtins), entry_points_enabled=False, trace=False
    )
    config = load_config_from_str(toml, Hooks(pm), environ=environ if environ is not None else {})
    return config, pm


def build_test_app(
    toml: str = "",
    plugins: Sequence[object] = (),
    *,
    builtins: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Litestar:
    """An app for ``toml`` with exactly ``plugins``; ``environ`` replaces ``os.environ``."""
    env = environ if environ is not None else {}
    config, pm = build_test_config(toml, plugins, builtins=builtins, environ=env)
    return create_app(config, pm, environ=env)


@asynccontextmanager
async def app_client(
    toml: str = "",
    plugins: Sequence[object] = (),
    *,
    builtins: bool = True,
    environ: Mapping[str, str] | None = None,
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """An in-process HTTP client for the app (lifespan run on enter and exit)."""
    from litestar.testing import AsyncTestClient  # noqa: PLC0415

    app = build_test_app(toml, plugins, builtins=builtins, environ=environ)
    async with AsyncTestClient(app=app, base_url=TEST_BASE_URL) as client:
        yield client


@asynccontextmanager
async def openai_client(
    toml: str = "",
    plugins: Sequence[object] = (),
    *,
    api_key: str = "test-key",
    builtins: bool = True,
    environ: Mapping[str, str] | None = None,
) -> AsyncIterator[AsyncOpenAI]:
    """The official ``openai`` SDK talking to the app in-process (no retries)."""
    from openai import AsyncOpenAI  # noqa: PLC0415

    async with app_client(toml, plugins, builtins=builtins, environ=environ) as client:
        yield AsyncOpenAI(
            api_key=api_key,
            base_url=f"{TEST_BASE_URL}/v1",
            # Litestar's test client is an httpx AsyncClient running the app in-process.
            http_client=client,  # type: ignore[arg-type]
            max_retries=0,
        )
