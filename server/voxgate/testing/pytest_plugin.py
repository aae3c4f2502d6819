"""pytest fixtures for voxgate plugins, loaded through the ``pytest11`` entry point.

async def test_speech(openai_client_factory):
    async with openai_client_factory(plugins=[my_plugin], toml=MY_TOML) as client:
        ...
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def voxgate_app_factory() -> Any:
    """``build_test_app(toml, plugins, ...)``: a Litestar app from TOML and explicit plugins."""
    from voxgate.testing.app import build_test_app  # noqa: PLC0415

    return build_test_app


@pytest.fixture
def voxgate_client_factory() -> Any:
    """``app_client(toml, plugins, ...)``: an async context manager yielding a test client."""
    from voxgate.testing.app import app_client  # noqa: PLC0415

    return app_client


@pytest.fixture
def openai_client_factory() -> Any:
    """``openai_client(toml, plugins, ...)``: an async context manager yielding ``AsyncOpenAI``."""
    from voxgate.testing.app import openai_client  # noqa: PLC0415

    def factory(*, toml: str = "", plugins: Any = (), **kwargs: Any) -> Any:
        return openai_client(toml, plugins, **kwargs)

    return factory
