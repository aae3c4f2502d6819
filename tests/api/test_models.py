"""``/v1/models`` through the official SDK, in-process."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import FAKE_TOML
from voxgate.testing import app_client, openai_client


async def test_list_has_every_instance_and_alias(plugins):
    async with openai_client(FAKE_TOML, plugins) as client:
        page = await client.models.list()
    assert [m.id for m in page.data] == [
        "fake-stt",
        "tone",
        "whisper-1",
        "Systran/faster-whisper-tiny.en",
        "tts-1",
    ]
    assert all(m.object == "model" and m.owned_by == "voxgate" for m in page.data)
    assert all(isinstance(m.created, int) for m in page.data)


async def test_retrieve_ids_with_a_slash(plugins):
    async with openai_client(FAKE_TOML, plugins) as client:
        model = await client.models.retrieve("Systran/faster-whisper-tiny.en")
        assert model.id == "Systran/faster-whisper-tiny.en"
        assert (await client.models.retrieve("tts-1")).id == "tts-1"


async def test_unknown_model_is_404_model_not_found(plugins):
    async with openai_client(FAKE_TOML, plugins) as client:
        with pytest.raises(openai.NotFoundError) as info:
            await client.models.retrieve("gpt-5-nope")
    assert info.value.status_code == 404
    assert info.value.code == "model_not_found"
    assert info.value.body == {
        "message": "The model `gpt-5-nope` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }


async def test_owned_by_comes_from_the_route(plugins):
    toml = FAKE_TOML + '"my-org/tts" = { tts = "tone", owned_by = "my-org" }\n'
    async with openai_client(toml, plugins) as client:
        assert (await client.models.retrieve("my-org/tts")).owned_by == "my-org"


async def test_empty_config_lists_nothing(plugins):
    async with openai_client("", plugins) as client:
        assert (await client.models.list()).data == []


async def test_audio_models_lists_the_speaking_ids_for_open_webui(plugins):
    async with app_client(FAKE_TOML, plugins) as client:
        response = await client.get("/v1/audio/models")
    assert response.status_code == 200
    assert response.json() == {"models": [{"id": "tone"}, {"id": "tts-1"}]}
