"""Test support for voxgate and its plugins: fake engines, app/client builders, contract suites.

    from voxgate.testing import TtsEngineContract, installed_plugins, openai_client

A plugin's tests import only this module and ``voxgate``. The pytest fixtures
(``voxgate_app_factory``, ``openai_client_factory``) are registered automatically through the
``pytest11`` entry point when voxgate is installed.
"""

from voxgate.config import ConfigError
from voxgate.plugins.hooks import PluginInfo
from voxgate.plugins.installed import installed_plugins
from voxgate.testing import fakes
from voxgate.testing.app import app_client, build_test_app, openai_client
from voxgate.testing.contracts import SttEngineContract, TtsEngineContract
from voxgate.testing.fakes import FakeSttEngine, FakeTtsEngine, WavTranscoder

__all__ = [
    "ConfigError",
    "FakeSttEngine",
    "FakeTtsEngine",
    "PluginInfo",
    "SttEngineContract",
    "TtsEngineContract",
    "WavTranscoder",
    "app_client",
    "build_test_app",
    "fakes",
    "installed_plugins",
    "openai_client",
]
