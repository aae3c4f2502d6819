"""API keys: the HTTP and WebSocket matrix."""

from __future__ import annotations

import re
from pathlib import Path

import openai
import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from tests.conftest import FAKE_TOML
from voxgate.testing import app_client, build_test_app, openai_client

KEYS = {"VOXGATE_API_KEYS": "sk-one, sk-two"}
ROOT = Path(__file__).resolve().parents[2]


async def test_open_when_no_keys_are_configured(plugins):
    async with openai_client(FAKE_TOML, plugins, api_key="anything") as client:
        assert len((await client.models.list()).data) == 5


@pytest.mark.parametrize("key", ["sk-one", "sk-two"])
async def test_each_configured_key_is_accepted(plugins, key):
    async with openai_client(FAKE_TOML, plugins, api_key=key, environ=KEYS) as client:
        assert (await client.models.retrieve("tts-1")).id == "tts-1"


async def test_wrong_key_is_401_invalid_api_key(plugins):
    async with openai_client(FAKE_TOML, plugins, api_key="sk-wrong", environ=KEYS) as client:
        with pytest.raises(openai.AuthenticationError) as info:
            await client.models.list()
    assert info.value.status_code == 401
    assert info.value.body == {
        "message": "Incorrect API key provided.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }


async def test_missing_or_malformed_header_is_401(plugins):
    async with app_client(FAKE_TOML, plugins, environ=KEYS) as client:
        for headers in ({}, {"authorization": "sk-one"}, {"authorization": "Basic sk-one"}):
            response = await client.get("/v1/models", headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "invalid_api_key"
        assert (await client.get("/-/plugins")).status_code == 401
        assert (await client.get("/docs/openapi.json")).status_code == 401
        ok = await client.get("/-/plugins", headers={"authorization": "Bearer sk-two"})
        assert ok.status_code == 200


async def test_health_and_ready_stay_public(plugins):
    async with app_client(FAKE_TOML, plugins, environ=KEYS) as client:
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/ready")).status_code == 200
        for path in ("/health", "/ready"):  # probes and monitors that only ask for the headers
            head = await client.head(path)
            assert head.status_code == 200, path
            assert head.content == b""


def _paths_in_sentence(text: str, ending: str) -> list[str]:
    """The backticked paths before ``ending`` in the one sentence of the guide that has it."""
    sentences = re.split(r"(?<=\.)\s+", " ".join(text.split()))
    found = [s.split(ending)[0] for s in sentences if ending in s]
    assert len(found) == 1, f"the guide has one sentence with `{ending}`"
    return re.findall(r"`(/[^`]*)`", found[0])


async def test_the_guide_says_which_paths_need_a_key(plugins):
    guide = (ROOT / "docs" / "self-hosting" / "index.md").read_text(encoding="utf-8")
    async with app_client(FAKE_TOML, plugins, environ=KEYS) as client:
        open_paths = _paths_in_sentence(guide, "stay open")
        assert open_paths
        for path in open_paths:
            assert (await client.get(path)).status_code == 200, path
        keyed_paths = _paths_in_sentence(guide, "need a key too")
        assert keyed_paths
        for path in keyed_paths:
            assert (await client.get(path)).status_code == 401, path


async def test_keys_from_a_variable_the_config_names(plugins):
    toml = FAKE_TOML + '[auth]\napi_key_envs = ["TEAM_KEYS"]\n'
    env = {"TEAM_KEYS": "team-key"}
    async with openai_client(toml, plugins, api_key="team-key", environ=env) as client:
        assert (await client.models.list()).data
    async with openai_client(toml, plugins, api_key="sk-one", environ=env) as client:
        with pytest.raises(openai.AuthenticationError):
            await client.models.list()


async def test_unauthorized_post_body_is_not_processed(plugins):
    async with app_client(FAKE_TOML, plugins, environ=KEYS) as client:
        response = await client.post("/v1/test/speech", json={"model": "tts-1", "input": "hi"})
    assert response.status_code == 401


# -- WebSocket -----------------------------------------------------------------------------------


def ws_client(plugins, env=KEYS) -> TestClient:
    return TestClient(app=build_test_app(FAKE_TOML, plugins, environ=env))


@pytest.mark.parametrize(
    ("path", "headers", "subprotocols"),
    [
        ("/v1/test/ws", {"authorization": "Bearer sk-one"}, None),
        ("/v1/test/ws?api_key=sk-two", {}, None),
        ("/v1/test/ws", {}, ["realtime", "openai-insecure-api-key.sk-one"]),
    ],
    ids=["header", "query", "subprotocol"],
)
def test_websocket_accepts_the_key_three_ways(plugins, path, headers, subprotocols):
    with (
        ws_client(plugins) as client,
        client.websocket_connect(path, headers=headers, subprotocols=subprotocols) as socket,
    ):
        assert socket.receive_text() == "hello"


@pytest.mark.parametrize(
    ("path", "headers", "subprotocols"),
    [
        ("/v1/test/ws", {}, None),
        ("/v1/test/ws", {"authorization": "Bearer nope"}, None),
        ("/v1/test/ws?api_key=nope", {}, None),
        ("/v1/test/ws", {}, ["realtime", "openai-insecure-api-key.nope"]),
    ],
    ids=["none", "header", "query", "subprotocol"],
)
def test_websocket_without_a_valid_key_is_refused(plugins, path, headers, subprotocols):
    with ws_client(plugins) as client, pytest.raises(WebSocketDisconnect) as info:
        with client.websocket_connect(path, headers=headers, subprotocols=subprotocols) as socket:
            socket.receive_text()
    assert info.value.code == 1008


def test_websocket_is_open_without_keys(plugins):
    with (
        ws_client(plugins, env={}) as client,
        client.websocket_connect("/v1/test/ws") as socket,
    ):
        assert socket.receive_text() == "hello"
