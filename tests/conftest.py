"""Shared fixtures: configs built from TOML strings and explicit plugin lists."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

SUPPORT = Path(__file__).parent / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))

import voxgate_test_routes  # noqa: E402
from clips import pcm16_wav  # noqa: E402
from fake_upstream import FakeUpstream  # noqa: E402

from voxgate.testing import fakes  # noqa: E402

FAKE_TOML = """
[transcoder]
kind = "wav"  # the fakes' stdlib WAV transcoder; tests that add voxgate_pyav replace it

[stt.fake-stt]
kind = "fake-stt"

[tts.tone]
kind = "fake-tts"

[models]
"whisper-1" = "fake-stt"
"Systran/faster-whisper-tiny.en" = { stt = "fake-stt" }
"tts-1" = { tts = "tone" }
"""
PYAV_TOML = FAKE_TOML.replace('kind = "wav"', 'kind = "pyav"', 1)  # with voxgate_pyav loaded


REAL_ENGINE_SUITES = (Path(__file__).parent / "engines", Path(__file__).parent / "contract")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the real-engine suites ``engines``, so ``-m "not engines"`` is the fast loop."""
    for item in items:
        if any(item.path.is_relative_to(suite) for suite in REAL_ENGINE_SUITES):
            item.add_marker(pytest.mark.engines)


@pytest.fixture
def plugins() -> list[object]:
    return [fakes, voxgate_test_routes]


@pytest.fixture(autouse=True)
def _reset_fake_counters():
    for cls in (fakes.FakeSttEngine, fakes.FakeTtsEngine):
        cls.steps = 0
        cls.closed = 0
    fakes.FakeSttEngine.loads = 0
    fakes.FakeTtsEngine.said = []
    fakes.FakeSttEngine.last_options = None
    fakes.FakeDiarizer.fed_samples = 0
    fakes.FakeDiarizer.largest_block = 0
    fakes.FakeDiarizer.last_options = None
    fakes.GATES.clear()
    yield
    for gate in fakes.GATES.values():
        gate.set()


@pytest.fixture(scope="session")
def upstream_server():
    """One fake OpenAI chat server on loopback for the whole run (tests reset it)."""
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def fake_upstream(upstream_server: FakeUpstream) -> FakeUpstream:
    """The fake chat upstream, its reply and records reset for this test."""
    upstream_server.reset()
    return upstream_server


@pytest.fixture(scope="session")
def conversation(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two of our TTS voices (Piper's Joe, Kokoro's jf_alpha) in a ~25 s conversation.

    Made once per session (about 20 s of synthesis on 2 cores): the WAV, the reference
    turns, and a reference clip of each voice saying something else (for known speakers).
    """
    from conversations import Voices, script, speak  # loads TTS engines

    voices = Voices(tmp_path_factory.mktemp("voices"))
    made = speak(voices, script(["joe", "alpha"], 7, seed=4), seed=4, pause=(0.2, 0.9))
    clips = {who: voices.say(who, CLIP_SENTENCE) for who in made.speakers}
    return SimpleNamespace(
        wav=pcm16_wav(made.audio.to_pcm16(), made.audio.sample_rate),
        turns=made.turns,
        speakers=made.speakers,
        duration=made.audio.duration,
        references={
            who: pcm16_wav(clip.to_pcm16(), clip.sample_rate) for who, clip in clips.items()
        },
    )


CLIP_SENTENCE = "Old maps are fascinating, I could look at them for hours."
