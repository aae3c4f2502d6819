"""POST /v1/realtime/client_secrets: ephemeral ``ek_…`` secrets for browsers, through the SDK.

The app is served on loopback with API keys configured; the official SDK mints a secret with
a real key, then opens Realtime WebSockets with the secret as its API key.
"""

from __future__ import annotations

import json
import time

import openai
import pytest
from servers import served
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

import voxgate_openai_upstream
import voxgate_pyav
from tests.api.conftest import conversation_toml
from voxgate.errors import RateLimitError
from voxgate.services.realtime.client_secrets import ClientSecretStore
from voxgate.state.memory import MemoryConfig, MemoryStore
from voxgate.testing import build_test_app

pytestmark = pytest.mark.filterwarnings(
    r"ignore:connect\(\) must be used as a context manager:DeprecationWarning"
)

KEYS = {"VOXGATE_API_KEYS": "sk-real"}
SESSION = {
    "type": "realtime",
    "instructions": "Answer like a pirate.",
    "audio": {
        "input": {"turn_detection": None},
        "output": {"voice": "tone", "speed": 1.25},
    },
}


@pytest.fixture
def server(plugins, fake_upstream):
    app = build_test_app(
        conversation_toml(fake_upstream.url),
        [*plugins, voxgate_pyav, voxgate_openai_upstream],
        environ=KEYS,
    )
    with served(app) as address:
        yield address


def sdk(address: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=key,
        base_url=f"http://{address}/v1",
        websocket_base_url=f"ws://{address}/v1",
        max_retries=0,
    )


def test_a_minted_secret_opens_sessions_with_its_configuration(server):
    with sdk(server, "sk-real") as client:
        secret = client.realtime.client_secrets.create(
            expires_after={"anchor": "created_at", "seconds": 120}, session=SESSION
        )
    assert secret.value.startswith("ek_")
    assert abs(secret.expires_at - (time.time() + 120)) < 5
    assert secret.session.type == "realtime"
    assert secret.session.instructions == "Answer like a pirate."
    with sdk(server, secret.value) as browser:
        for _ in range(2):  # one secret, several sessions until it expires
            with browser.realtime.connect(model="gpt-realtime") as connection:
                created = connection.recv()
                assert created.type == "session.created"
                session = created.session
                assert session.instructions == "Answer like a pirate."
                assert session.audio.output.speed == 1.25
                assert session.audio.input.turn_detection is None


def test_a_transcription_secret_opens_a_transcription_session(server):
    with sdk(server, "sk-real") as client:
        secret = client.realtime.client_secrets.create(
            session={
                "type": "transcription",
                "audio": {"input": {"transcription": {"model": "whisper-1", "language": "en"}}},
            }
        )
    assert secret.session.type == "transcription"
    assert abs(secret.expires_at - (time.time() + 600)) < 5  # OpenAI's default: 10 minutes
    with sdk(server, secret.value) as browser, browser.realtime.connect(model="x") as connection:
        session = connection.recv().session
    assert session.type == "transcription"
    assert session.audio.input.transcription.language == "en"


def test_a_secret_is_refused_on_rest_routes_and_for_minting(server):
    with sdk(server, "sk-real") as client:
        value = client.realtime.client_secrets.create(session=SESSION).value
    with sdk(server, value) as browser:
        with pytest.raises(openai.AuthenticationError) as info:
            browser.models.list()
        assert "Realtime connections only" in info.value.body["message"]
        with pytest.raises(openai.AuthenticationError):
            browser.realtime.client_secrets.create()


def test_minting_needs_a_real_key(server):
    with sdk(server, "sk-wrong") as client, pytest.raises(openai.AuthenticationError):
        client.realtime.client_secrets.create()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"expires_after": {"anchor": "created_at", "seconds": 5}}, "expires_after.seconds"),
        ({"expires_after": {"anchor": "created_at", "seconds": 7201}}, "expires_after.seconds"),
        ({"expires_after": {"anchor": "now", "seconds": 60}}, "expires_after.anchor"),
        ({"session": {"type": "translation"}}, "session.type"),
        ({"session": {"type": "realtime", "output_modalities": ["video"]}}, None),
    ],
)
def test_bad_requests_are_400_with_the_envelope(server, body, param):
    with sdk(server, "sk-real") as client, pytest.raises(openai.BadRequestError) as info:
        client.post("/realtime/client_secrets", body=body, cast_to=object)
    if param is not None:
        assert info.value.body["param"] == param
    assert info.value.body["type"] == "invalid_request_error"


def test_a_session_naming_an_unknown_model_is_refused_at_minting(server):
    session = {"type": "transcription", "audio": {"input": {"transcription": {"model": "nope"}}}}
    with sdk(server, "sk-real") as client, pytest.raises(openai.NotFoundError) as info:
        client.realtime.client_secrets.create(session=session)  # type: ignore[arg-type]
    assert info.value.body["param"] == "session.audio.input.transcription.model"


def test_an_unknown_secret_is_refused_at_the_handshake(server):
    with pytest.raises(InvalidStatus) as info:
        connect(
            f"ws://{server}/v1/realtime?model=gpt-realtime",
            additional_headers={"Authorization": "Bearer ek_unknown"},
        )
    assert info.value.response.status_code == 401
    assert b"unknown or has expired" in info.value.response.body


async def test_secrets_are_kept_hashed_expire_and_are_capped():
    now = [1000.0]
    state = MemoryStore(MemoryConfig(), None, url="memory://")
    store = ClientSecretStore(state, limit=2, clock=lambda: now[0])
    value, secret = await store.mint({"type": "realtime"}, ttl_seconds=10)
    assert value not in repr(state.__dict__)  # only its hash is kept
    assert await store.resolve(value) == secret
    await store.mint({"type": "realtime"}, ttl_seconds=60)
    with pytest.raises(RateLimitError, match="live client secrets"):
        await store.mint({"type": "realtime"}, ttl_seconds=60)
    now[0] += 10
    assert await store.resolve(value) is None  # expired
    await store.mint({"type": "realtime"}, ttl_seconds=60)  # the expired one freed its place
    assert store.alive() == 2


def test_a_browser_presents_the_secret_as_a_subprotocol(server):
    with sdk(server, "sk-real") as client:
        value = client.realtime.client_secrets.create(session=SESSION).value
    protocols = ["realtime", f"openai-insecure-api-key.{value}"]
    with connect(f"ws://{server}/v1/realtime", subprotocols=protocols) as socket:  # type: ignore[arg-type]
        created = json.loads(socket.recv(timeout=5))
    assert created["session"]["instructions"] == "Answer like a pirate."
