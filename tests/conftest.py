"""Shared fixtures: configs built from TOML strings and explicit plugin lists."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SUPPORT = Path(__file__).parent / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))

import voxgate_test_routes  # noqa: E402
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
