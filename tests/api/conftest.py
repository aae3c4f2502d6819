"""Fixtures shared by the API tests that need a served app with a voice-conversation setup."""

from __future__ import annotations

import pytest
from servers import served

import voxgate_openai_upstream
import voxgate_pyav
from voxgate.testing import build_test_app

HEARD = "What is the weather like today?"
"""What the fake STT engine hears in every turn of ``conversation_server``."""


def conversation_toml(upstream_url: str) -> str:
    """Fake STT (hears ``HEARD``), fake TTS and the chat upstream at ``upstream_url``."""
    return f"""
[stt.fake-stt]
kind = "fake-stt"
texts = ["{HEARD}"]
segment_seconds = 20.0

[tts.tone]
kind = "fake-tts"

[chat.upstream]
kind = "openai"
base_url = "{upstream_url}"
retries = 0

[models]
"whisper-1" = "fake-stt"
"tts-1" = {{ tts = "tone" }}
"""


@pytest.fixture
def conversation_server(plugins, fake_upstream, monkeypatch, request):
    """The conversation app served on loopback (``host:port``); the test node holds the app."""
    for name in ("CHAT_COMPLETION_BASE_URL", "CHAT_COMPLETION_MODEL", "CHAT_COMPLETION_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    toml = conversation_toml(fake_upstream.url)
    app = build_test_app(toml, [*plugins, voxgate_pyav, voxgate_openai_upstream])
    request.node.app = app
    with served(app) as address:
        yield address
