"""Tests for the example plugin: the shared engine contract, the app through the SDK, discovery.

The fixtures (``openai_client_factory`` and friends) come with voxgate itself, through its
pytest plugin; no conftest is needed.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, ClassVar

import openai
import pytest
from voxgate.testing import TtsEngineContract, installed_plugins

import voxgate_example

CONFIG = """
[tts.beep]
kind = "example"

[models]
"tts-1" = { tts = "beep" }
"""


class TestExampleEngineContract(TtsEngineContract):
    """voxgate's shared TTS suite: float32 mono chunks, speed, voices, stopping early, unload."""

    engine = voxgate_example.ExampleEngine
    config: ClassVar[dict[str, Any]] = {"sample_rate": 16_000}


async def test_models_through_the_openai_sdk(openai_client_factory):
    async with openai_client_factory(plugins=[voxgate_example], toml=CONFIG) as client:
        page = await client.models.list()
        ids = {model.id for model in page.data}
        assert {"tts-1", "beep"} <= ids

        model = await client.models.retrieve("tts-1")
        assert model.id == "tts-1"

        with pytest.raises(openai.NotFoundError) as excinfo:
            await client.models.retrieve("no-such-model")
        assert excinfo.value.body["code"] == "model_not_found"


def test_entry_point_is_installed():
    found = {ep.name: ep.value for ep in entry_points(group="voxgate")}
    assert found.get("example") == "voxgate_example"


def test_voxgate_discovers_the_plugin():
    plugins = installed_plugins()  # real entry-point discovery, as `voxgate serve` does it
    assert "example" in plugins, "is the plugin installed (`pip install -e .`)?"
    example = plugins["example"]
    assert example.distribution == "voxgate-example"
    assert example.hooks == ["register_tts_engines"]
    assert example.kinds == {"tts": ["example"]}
