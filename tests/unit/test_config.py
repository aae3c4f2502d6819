"""Configuration: every problem reported at once with its TOML path, env overrides, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

import voxgate_routing
from tests.conftest import FAKE_TOML
from voxgate.config import (
    ConfigError,
    ServerConfig,
    default_toml,
    load_config,
    load_config_from_str,
)
from voxgate.plugins.hooks import Hooks
from voxgate.plugins.manager import make_plugin_manager
from voxgate.testing import fakes

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def hooks() -> Hooks:
    pm = make_plugin_manager(plugins=[voxgate_routing, fakes], entry_points_enabled=False)
    return Hooks(pm)


def problems_of(text: str, hooks: Hooks, environ: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load_config_from_str(text, hooks, environ=environ or {})
    return {p.path: p.message for p in info.value.problems}


def test_embedded_default_equals_config_file():
    assert default_toml() == (REPO / "config" / "voxgate.toml").read_text(encoding="utf-8")


def test_embedded_default_is_valid_with_the_installed_builtins():
    installed = Hooks(make_plugin_manager(entry_points_enabled=True, trace=False))
    config = load_config(None, installed, environ={})
    assert config.server.host == "127.0.0.1"
    assert config.server.port == 8000
    assert config.server.max_upload_bytes == 26_214_400
    assert config.source == "<embedded default>"
    assert config.instances["whisper-base"].kind == "faster-whisper"
    for alias in ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"):
        assert config.models[alias].stt == "whisper-base"
    assert "whisper-tiny.en" in config.model_ids()


def test_good_config_decodes(hooks):
    config = load_config_from_str(FAKE_TOML, hooks, environ={})
    assert set(config.instances) == {"fake-stt", "tone"}
    assert config.instances["tone"].task == "tts"
    assert config.models["whisper-1"].stt == "fake-stt"
    assert config.models["tts-1"].tts == "tone"
    assert config.model_ids() == [
        "fake-stt",
        "tone",
        "whisper-1",
        "Systran/faster-whisper-tiny.en",
        "tts-1",
    ]


def test_every_problem_is_reported_at_once(hooks):
    bad = """
    [server]
    port = "eighty"
    max_upload_bytes = 0
    colour = "blue"

    [logging]
    format = "xml"

    [tts.tone]
    kind = "fake-tts"
    sample_rate = 100
    concurrency = 0
    bogus = 1

    [stt.whisper]
    kind = "faster-whisper"

    [tts.nokind]
    preload = true

    [models]
    "whisper-1" = "missing-instance"
    "tts-1" = { tts = "nowhere" }
    "gpt-4o-mini-tts" = { stt = "tone" }

    [telemetry]
    enabled = true
    """
    found = problems_of(bad, hooks)
    assert "expected `int`, got `str`" in found["server.port"].lower()
    assert ">= 1" in found["server.max_upload_bytes"]
    assert found["server.colour"].startswith("unknown key")
    assert "host" in found["server.colour"]  # lists the keys it knows
    assert "xml" in found["logging.format"] or "invalid enum" in found["logging.format"].lower()
    assert ">= 8000" in found["tts.tone.sample_rate"]
    assert ">= 1" in found["tts.tone.concurrency"]
    assert found["tts.tone.bogus"].startswith("unknown key")
    assert "frequency" in found["tts.tone.bogus"], "lists the kind's own keys"
    assert "preload" in found["tts.tone.bogus"], "and the keys every instance takes"
    assert "installed: fake-stt" in found["stt.whisper.kind"]
    assert found["tts.nokind.kind"] == "missing required key"
    assert "missing-instance" in found["models.whisper-1"]
    assert "nowhere" in found["models.tts-1.tts"]
    assert "[stt.*]" in found["models.gpt-4o-mini-tts.stt"]
    assert "unknown top-level table" in found["telemetry"]
    assert len(found) >= 13


def test_unknown_kind_lists_installed_kinds(hooks):
    found = problems_of('[tts.x]\nkind = "kokoro"\n', hooks)
    assert found["tts.x.kind"] == "unknown tts kind 'kokoro' (installed: fake-tts)"


def test_the_transcoder_is_chosen_by_kind_with_its_options():
    import voxgate_pyav

    hooks = Hooks(make_plugin_manager(plugins=[voxgate_pyav, fakes], entry_points_enabled=False))
    config = load_config_from_str("", hooks, environ={})
    assert config.transcoder is not None
    assert config.transcoder.kind == "pyav", "the default"
    assert config.transcoder.options == voxgate_pyav.PyAvConfig()
    toml = "[transcoder]\nmax_decoded_seconds = 60.0\nthreads = 2\n"
    config = load_config_from_str(toml, hooks, environ={})
    assert config.transcoder.options == voxgate_pyav.PyAvConfig(max_decoded_seconds=60, threads=2)
    config = load_config_from_str('[transcoder]\nkind = "wav"\n', hooks, environ={})
    assert config.transcoder.kind == "wav"


def test_transcoder_problems_have_their_toml_paths(hooks):
    found = problems_of('[transcoder]\nkind = "ffmpeg-cli"\n', hooks)
    assert found == {
        "transcoder.kind": "unknown transcoder kind 'ffmpeg-cli' (installed: wav)",
    }
    found = problems_of('[transcoder]\nkind = "wav"\nthreads = 2\n', hooks)
    assert found == {"transcoder.threads": "unknown key (known keys: kind)"}
    # options for the default kind, which these plugins lack
    found = problems_of("[transcoder]\nthreads = 2\n", hooks)
    assert found == {
        "transcoder": "the default kind 'pyav' is not installed; set `kind` (installed: wav)",
    }
    assert problems_of('transcoder = "pyav"\n', hooks) == {
        "transcoder": "expected a table, got a string"
    }
    assert load_config_from_str("", hooks, environ={}).transcoder is None


def test_instance_names_are_unique_across_tables(hooks):
    found = problems_of('[stt.same]\nkind = "fake-stt"\n[tts.same]\nkind = "fake-tts"\n', hooks)
    assert "already used by [stt.same]" in found["tts.same"]


def test_route_needs_a_target(hooks):
    found = problems_of('[models]\n"m" = { owned_by = "me" }\n', hooks)
    assert "names no stt, tts, chat or diarize" in found["models.m"]


def test_invalid_toml_is_one_clear_problem(hooks):
    found = problems_of("[server\nport = 1", hooks)
    assert "invalid TOML" in found[""]


def test_env_overrides_apply_and_are_validated(hooks):
    env = {
        "VOXGATE_HOST": "0.0.0.0",
        "VOXGATE_PORT": "9001",
        "VOXGATE_CORS_ORIGINS": "https://a.example, https://b.example",
        "VOXGATE_LOG_FORMAT": "json",
    }
    config = load_config_from_str(FAKE_TOML, hooks, environ=env)
    assert config.server.host == "0.0.0.0"
    assert config.server.port == 9001
    assert config.server.cors_origins == ["https://a.example", "https://b.example"]
    assert config.logging.format == "json"
    found = problems_of(FAKE_TOML, hooks, {"VOXGATE_PORT": "http", "VOXGATE_LOG_LEVEL": "loud"})
    assert "expected an integer" in found["env VOXGATE_PORT"]
    assert "logging.level" in found


def test_api_keys_from_env_and_named_variables(hooks):
    toml = '[auth]\napi_key_envs = ["TEAM_KEYS"]\n'
    env = {"VOXGATE_API_KEYS": "a, b", "TEAM_KEYS": "c"}
    config = load_config_from_str(toml, hooks, environ=env)
    assert config.api_keys(env) == {"a", "b", "c"}
    assert ServerConfig().api_keys({}) == frozenset()


def test_named_key_variable_must_be_set(hooks):
    found = problems_of('[auth]\napi_key_envs = ["TEAM_KEYS"]\n', hooks)
    assert "TEAM_KEYS is not set" in found["auth.api_key_envs[0]"]


def test_nested_value_paths(hooks):
    found = problems_of('[server]\ncors_origins = ["ok", 3]\n', hooks)
    assert "server.cors_origins[1]" in found


def test_config_file_errors_name_the_file(tmp_path, hooks):
    path = tmp_path / "bad.toml"
    path.write_text("[server]\nport = -1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, hooks, environ={})
    assert str(path) in str(info.value)
    assert "server.port" in str(info.value)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml", hooks, environ={})


def test_keys_that_need_quotes_are_quoted_in_paths(hooks):
    found = problems_of('[models]\n"Systran/faster-whisper-base" = "nope"\n', hooks)
    assert 'models."Systran/faster-whisper-base"' in found


def test_a_broken_instance_is_not_also_reported_as_missing(hooks):
    found = problems_of(
        '[tts.tone]\nkind = "fake-tts"\nsample_rate = 1\n[models]\n"tts-1" = "tone"\n', hooks
    )
    assert list(found) == ["tts.tone.sample_rate"]
