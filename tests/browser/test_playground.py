"""The playground (``GET /``) in headless Chromium against the app on fake engines.

Each tab is used as a person would: speak produces audio, a file transcribes, the fake
microphone's words appear as live captions, and a WebRTC talk turn completes against the fake
LLM. The server has an API key, entered in the page's key field. With
``VOXGATE_SCREENSHOTS=docs/images`` each test saves its screenshot there (the README's).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_upstream import DEFAULT_REPLY
from servers import served

import voxgate_openai_upstream
import voxgate_pyav
from tests.api.conftest import HEARD, conversation_toml
from voxgate.api.realtime_calls import calls_of
from voxgate.testing import build_test_app

DATA = Path(__file__).resolve().parents[1] / "data"
KEY = "sk-playground"
TIMEOUT_MS = 20_000


@pytest.fixture
def server(plugins, fake_upstream, request) -> Iterator[str]:
    app = build_test_app(
        conversation_toml(fake_upstream.url),
        [*plugins, voxgate_pyav, voxgate_openai_upstream],
        environ={"VOXGATE_API_KEYS": KEY},
    )
    request.node.app = app
    with served(app) as address:
        yield address


@pytest.fixture
def page(browser, server) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"http://{server}/")
    page.fill("#api-key", KEY)
    page.dispatch_event("#api-key", "change")
    page.wait_for_selector("#speak-voice option", state="attached")  # voices came with the key
    try:
        yield page
    finally:
        context.close()


def screenshot(page: Any, name: str) -> None:
    folder = os.environ.get("VOXGATE_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"playground-{name}.png"), full_page=True)


def test_the_page_loads_without_a_key_and_says_one_is_needed(browser, server):
    context = browser.new_context()
    try:
        page = context.new_page()
        assert page.goto(f"http://{server}/").status == 200
        page.wait_for_selector("#error:not([hidden])", timeout=TIMEOUT_MS)
        assert "API key" in page.inner_text("#error")
    finally:
        context.close()


def test_speak_streams_audio_and_offers_a_download(page):
    page.fill("#speak-text", "Hello from the playground. It speaks every word.")
    page.select_option("#speak-format", "mp3")
    page.click("#speak-go")
    page.wait_for_selector("#speak-download:not([hidden])")
    assert int(page.get_attribute("#speak-download", "data-bytes") or 0) > 1_000
    assert page.evaluate("document.getElementById('speak-audio').src").startswith("blob:")
    screenshot(page, "speak")


def test_a_dropped_file_transcribes_with_segments(page):
    page.click("nav [data-tab=transcribe]")
    page.set_input_files("#transcribe-file", str(DATA / "en-10s.wav"))
    page.click("#transcribe-go")
    page.wait_for_selector("#transcribe-text[data-done]")
    assert page.inner_text("#transcribe-text") == HEARD
    assert page.is_visible("#transcribe-segments-table")
    screenshot(page, "transcribe")


def test_live_captions_show_the_spoken_words(page):
    page.click("nav [data-tab=captions]")
    page.click("#captions-go")
    page.wait_for_selector("#captions-lines .final")
    assert HEARD in page.inner_text("#captions-lines")
    screenshot(page, "captions")
    page.click("#captions-go")  # stop


def test_a_talk_turn_over_webrtc(page, request):
    page.click("nav [data-tab=talk]")
    page.click("#talk-go")
    page.wait_for_selector("#talk-lines[data-responses]")
    page.wait_for_selector("#talk-lines .assistant")
    lines = page.inner_text("#talk-lines")
    assert HEARD in lines
    assert DEFAULT_REPLY.split(".")[0] in lines
    assert page.inner_text("#error") == ""
    screenshot(page, "talk")
    page.click("#talk-go")  # hang up
    page.wait_for_function("document.getElementById('talk-status').textContent === 'hung up'")
    runtime = request.node.app.state.runtime
    page.wait_for_timeout(500)
    assert calls_of(runtime) == {}
