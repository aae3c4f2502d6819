"""Headless Chromium (Debian's ``chromium``, installed by ``.ci/install-browser``) for the page tests.

Playwright drives the system's browser: nothing is downloaded at test time. The fake
microphone plays a spoken WAV on a loop. Without the browser these tests are skipped, except
under ``CI=true``, where a missing browser fails the run.
"""

from __future__ import annotations

import os
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

DATA = Path(__file__).resolve().parents[1] / "data"
RATE = 16_000


def spoken_wav(path: Path) -> Path:
    """4 s of the spoken fixture, then 1.5 s of silence: a turn per loop of the fake mic."""
    with wave.open(str(DATA / "en-10s.wav")) as source:  # 16 kHz 16-bit mono
        speech = source.readframes(RATE * 4)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(speech + bytes(2 * RATE * 3 // 2))
    return path


def chromium_path() -> str | None:
    """``VOXGATE_CHROMIUM``, or Debian's ``chromium`` on the path."""
    return (
        os.environ.get("VOXGATE_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )


@pytest.fixture(scope="module")  # not longer: Playwright's loop must not outlive the module
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the session, with a fake microphone and autoplay allowed."""
    executable = chromium_path()
    if executable is None:
        message = "no chromium: install it with .ci/install-browser (CONTRIBUTING.md)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    microphone = spoken_wav(tmp_path_factory.mktemp("mic") / "spoken.wav")

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",  # CI containers run as root
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={microphone}",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        try:
            yield launched
        finally:
            launched.close()
