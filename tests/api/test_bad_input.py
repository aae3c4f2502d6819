"""Bad input is a 4xx with the error envelope, never a 5xx: bodies the parsers choke on.

JSON nested past the decoder's recursion limit, multipart text that is not UTF-8, a file part
with no filename, and a client that leaves mid-upload (which is not a server error either).
"""

from __future__ import annotations

import json

import pytest
import structlog
from litestar.testing import TestClient

import voxgate_voices
from tests.conftest import FAKE_TOML
from voxgate.testing import app_client, build_test_app
from voxgate.testing.fakes import tone, wav_bytes

DEEP = b"[" * 100_000 + b"]" * 100_000
AUDIO = wav_bytes(tone(1.0, 16_000))
BOUNDARY = "voxgate-test-boundary"


def multipart(*parts: tuple[str, bytes, str | None]) -> bytes:
    """A body of ``(name, content, filename)`` parts, written by hand to send what SDKs won't."""
    out = b""
    for name, content, filename in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += content + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def assert_400(response, param: str | None) -> dict:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    return error


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/audio/speech"),
        ("POST", "/v1/chat/completions"),
        ("PUT", "/v1/audio/voices/mapping"),
    ],
)
async def test_json_nested_100000_deep_is_400(plugins, method, path):
    async with app_client(FAKE_TOML, [*plugins, voxgate_voices]) as http:
        response = await http.request(
            method, path, content=DEEP, headers={"content-type": "application/json"}
        )
    assert "nested too deeply" in assert_400(response, None)["message"]


@pytest.mark.parametrize("path", ["/v1/audio/transcriptions", "/v1/audio/translations"])
async def test_a_text_field_that_is_not_utf8_is_400_naming_it(plugins, path):
    body = multipart(
        ("model", b"whisper-1", None),
        ("prompt", b"\xff\xfe caf\xe9", None),
        ("file", AUDIO, "a.wav"),
    )
    async with app_client(FAKE_TOML, plugins) as http:
        response = await http.post(
            path,
            content=body,
            headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
    assert "UTF-8" in assert_400(response, "prompt")["message"]


async def test_a_text_field_in_an_unknown_charset_is_400_naming_it(plugins):
    body = multipart(("model", b"whisper-1", None), ("file", AUDIO, "a.wav")).replace(
        b'name="model"', b'name="model"\r\nContent-Type: text/plain; charset=x-nonsense', 1
    )
    async with app_client(FAKE_TOML, plugins) as http:
        response = await http.post(
            "/v1/audio/transcriptions",
            content=body,
            headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
    assert "charset" in assert_400(response, "model")["message"]


@pytest.mark.parametrize("path", ["/v1/audio/transcriptions", "/v1/audio/translations"])
async def test_a_file_part_without_a_filename_is_still_the_audio(plugins, path):
    body = multipart(("model", b"whisper-1", None), ("file", AUDIO, None))
    async with app_client(FAKE_TOML, plugins) as http:
        response = await http.post(
            path,
            content=body,
            headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "Hello from the fake engine."


async def test_a_multipart_body_cut_short_is_400(plugins):
    body = multipart(("model", b"whisper-1", None), ("file", AUDIO, "a.wav"))[:-200]
    async with app_client(FAKE_TOML, plugins) as http:
        response = await http.post(
            "/v1/audio/transcriptions",
            content=body,
            headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
    assert "malformed" in assert_400(response, None)["message"]


async def test_a_client_leaving_mid_upload_is_no_server_error(plugins):
    """The body stops with a disconnect: one info line, status 499, no 'unhandled exception'."""
    body = multipart(("model", b"whisper-1", None), ("file", AUDIO, "a.wav"))
    app = build_test_app(FAKE_TOML, plugins)
    sent: list[dict] = []
    chunks = [
        {"type": "http.request", "body": body[:5000], "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/audio/transcriptions",
        "raw_path": b"/v1/audio/transcriptions",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    async with app_client(FAKE_TOML, plugins):  # the lifespan of another app: engines ready
        pass
    with structlog.testing.capture_logs() as logs:
        await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 499
    events = [entry["event"] for entry in logs]
    assert "unhandled exception" not in events
    assert "client disconnected before its request was read" in events
    access = next(entry for entry in logs if entry["event"] == "request")
    assert access["status"] == 499


@pytest.mark.parametrize(
    "path", ["/v1/realtime?intent=transcription", "/v1/audio/transcriptions-realtime"]
)
def test_websocket_json_nested_100000_deep_is_an_error_event(plugins, path):
    """Not a close with 1011/4500: the same error event any other bad JSON gets."""
    app = build_test_app(FAKE_TOML, plugins)
    with TestClient(app) as client, client.websocket_connect(path) as socket:
        if "realtime?" in path:
            assert socket.receive_json(timeout=10)["type"] == "session.created"
        else:
            socket.send_text(json.dumps({"sample_rate": 16_000}))
        socket.send_text(DEEP.decode())
        error = socket.receive_json(timeout=10)["error"]
        assert error["code"] == "invalid_json", "an error event; the socket stays open"
        socket.send_text("{nope")
        assert socket.receive_json(timeout=10)["error"]["code"] == "invalid_json"
