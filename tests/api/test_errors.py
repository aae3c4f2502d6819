"""The OpenAI error envelope on every path: validation, 404, 405, 413, 500; request ids; CORS."""

from __future__ import annotations

import openai
import pytest
import structlog
from litestar.handlers import HTTPRouteHandler

from tests.conftest import FAKE_TOML
from voxgate.testing import app_client, build_test_app, openai_client
from voxgate.testing.fakes import tone, wav_bytes

ENVELOPE_KEYS = {"message", "type", "param", "code"}


def assert_envelope(response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == ENVELOPE_KEYS
    return body["error"]


async def test_unknown_route_is_404_envelope(plugins):
    async with app_client(FAKE_TOML, plugins) as client:
        error = assert_envelope(await client.get("/v1/nothing/here"), 404)
    assert error["type"] == "invalid_request_error"
    assert "/v1/nothing/here" in error["message"]


async def test_wrong_method_is_405_envelope(plugins):
    async with app_client(FAKE_TOML, plugins) as client:
        error = assert_envelope(await client.delete("/v1/models"), 405)
    assert "DELETE" in error["message"]


async def test_validation_error_names_the_param(plugins):
    async with openai_client(FAKE_TOML, plugins) as client:
        with pytest.raises(openai.BadRequestError) as info:
            await client.post(
                "/test/speech",
                body={"model": "tts-1", "input": "hi", "speed": 9},
                cast_to=dict,
            )
    assert info.value.status_code == 400
    assert info.value.param == "speed"
    assert "<= 4.0" in info.value.message
    assert set(info.value.body) == ENVELOPE_KEYS


async def test_missing_field_and_bad_json_are_400(plugins):
    async with app_client(FAKE_TOML, plugins) as client:
        missing = assert_envelope(
            await client.post("/v1/test/speech", json={"model": "tts-1"}), 400
        )
        assert missing["param"] == "input"
        bad = await client.post(
            "/v1/test/speech", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert_envelope(bad, 400)


async def test_unhandled_exception_is_generic_500_with_request_id(plugins):
    async with app_client(FAKE_TOML, plugins) as client:
        with structlog.testing.capture_logs() as logs:
            response = await client.get("/v1/test/boom", headers={"x-request-id": "trace-123"})
    error = assert_envelope(response, 500)
    assert error["type"] == "server_error"
    assert "trace-123" in error["message"]
    assert "kaboom" not in response.text, "details stay in the log"
    assert response.headers["x-request-id"] == "trace-123"
    logged = [e for e in logs if e["event"] == "unhandled exception"]
    assert len(logged) == 1
    assert "exc_info" in logged[0]


async def test_request_id_is_minted_and_echoed(plugins):
    async with app_client(FAKE_TOML, plugins) as client:
        minted = await client.get("/health")
        assert minted.headers["x-request-id"].startswith("req_")
        echoed = await client.get("/v1/nothing", headers={"x-request-id": "abc-42"})
        assert echoed.headers["x-request-id"] == "abc-42", "404s carry it too"
        unsafe = await client.get("/health", headers={"x-request-id": "bad id\n"})
        assert unsafe.headers["x-request-id"].startswith("req_")


async def test_upload_over_the_limit_is_413_envelope(plugins):
    toml = FAKE_TOML + "[server]\nmax_upload_bytes = 50000\n"
    big = wav_bytes(tone(3.0))  # 96 kB
    async with openai_client(toml, plugins) as client:
        with pytest.raises(openai.APIStatusError) as info:
            await client.post(
                "/test/transcribe",
                body={"model": "whisper-1"},
                files=[("file", ("a.wav", big, "audio/wav"))],
                options={"headers": {"Content-Type": "multipart/form-data"}},
                cast_to=dict,
            )
    assert info.value.status_code == 413
    assert info.value.body["type"] == "server_error"
    assert info.value.body["message"].startswith("Maximum content size limit (50000) exceeded")


async def test_upload_under_the_limit_is_served(plugins):
    async with openai_client(FAKE_TOML, plugins) as client:
        result = await client.post(
            "/test/transcribe",
            body={"model": "whisper-1"},
            files=[("file", ("upload", wav_bytes(tone(2.0)), "application/octet-stream"))],
            options={"headers": {"Content-Type": "multipart/form-data"}},
            cast_to=dict,
        )
    assert result == {
        "text": "Hello from the fake engine. Hello from the fake engine.",
        "segments": 2,
    }


async def test_bad_upload_is_400_on_file(plugins):
    async with app_client(FAKE_TOML, plugins) as client:
        response = await client.post(
            "/v1/test/transcribe",
            data={"model": "whisper-1"},
            files={"file": ("x.wav", b"this is not audio", "audio/wav")},
        )
    assert assert_envelope(response, 400)["param"] == "file"


async def test_cors_origins_are_configurable(plugins):
    toml = FAKE_TOML + '[server]\ncors_origins = ["https://ui.example"]\n'
    async with app_client(toml, plugins) as client:
        allowed = await client.get("/v1/models", headers={"origin": "https://ui.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://ui.example"
        preflight = await client.options(
            "/v1/models",
            headers={"origin": "https://ui.example", "access-control-request-method": "GET"},
        )
        assert preflight.status_code in {200, 204}
        other = await client.get("/v1/models", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    async with app_client(FAKE_TOML, plugins) as client:
        closed = await client.get("/v1/models", headers={"origin": "https://ui.example"})
        assert "access-control-allow-origin" not in closed.headers


def test_every_post_route_answers_200(plugins):
    app = build_test_app(FAKE_TOML, plugins)
    posts = [
        handler
        for route in app.routes
        for handler in getattr(route, "route_handlers", ())
        if isinstance(handler, HTTPRouteHandler) and "POST" in handler.http_methods
    ]
    assert posts, "the test routes add POST handlers"
    created = {"/v1/realtime/calls"}  # 201 with Location, as OpenAI answers a WebRTC offer
    assert all(
        handler.status_code == (201 if handler.paths & created else 200) for handler in posts
    )


async def test_access_log_has_one_line_per_request_without_secrets(plugins):
    env = {"VOXGATE_API_KEYS": "sk-very-secret"}
    async with app_client(FAKE_TOML, plugins, environ=env) as client:
        with structlog.testing.capture_logs() as logs:
            await client.get(
                "/v1/models?api_key=sk-very-secret",
                headers={"authorization": "Bearer sk-very-secret"},
            )
    lines = [e for e in logs if e["event"] == "request"]
    assert len(lines) == 1
    assert lines[0]["path"] == "/v1/models"
    assert lines[0]["status"] == 200
    assert "sk-very-secret" not in repr(logs)


@pytest.mark.parametrize("path", ["/v1/audio/speech", "/v1/chat/completions"])
async def test_an_empty_json_body_says_so(plugins, path):
    async with app_client(FAKE_TOML, plugins) as client:
        response = await client.post(
            path, content=b"", headers={"content-type": "application/json"}
        )
    error = assert_envelope(response, 400)
    assert error["message"] == "The request body is empty: send a JSON object."
    assert error["param"] is None
