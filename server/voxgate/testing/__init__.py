"""Test support for voxgate and its plugins: fake engines, app/client builders, contract suites.

    from voxgate.testing import TtsEngineContract, openai_client

The pytest fixtures (``voxgate_app_factory``, ``openai_client_factory``) are registered
automatically through the ``pytest11`` entry point when voxgate is installed.
"""

from voxgate.testing.app import app_client, build_test_app, openai_client
from voxgate.testing.contracts import SttEngineContract, TtsEngineContract
from voxgate.testing.fakes import FakeSttEngine, FakeTtsEngine, WavTranscoder

__all__ = [
    "FakeSttEngine",
    "FakeTtsEngine",
    "SttEngineContract",
    "TtsEngineContract",
    "WavTranscoder",
    "app_client",
    "build_test_app",
    "openai_client",
]
