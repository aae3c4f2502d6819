"""The ``voxgate`` command: check-config, plugins, models, --version."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.contract.conftest import voxgate_command

BAD = """
# only the test plugins: the installed kinds in the message below must not depend on the machine
[plugins]
load = ["fakes", "testroutes"]

[server]
port = "eighty"
colour = "blue"

[tts.tone]
kind = "fake-tts"
sample_rate = 100

[stt.whisper]
kind = "whisper-cpp"

[models]
"whisper-1" = "nowhere"

[telemetry]
on = true
"""

GOOD = """
[tts.tone]
kind = "fake-tts"
preload = true

[models]
"tts-1" = { tts = "tone" }
"""


def run(env, *args):
    return subprocess.run(
        voxgate_command(*args), env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_check_config_reports_every_problem(tmp_path, subprocess_env):
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    result = run(subprocess_env, "check-config", str(path))
    assert result.returncode == 1
    for expected in [
        "server.port: Expected `int`, got `str`",
        "server.colour: unknown key",
        "tts.tone.sample_rate: Expected `int` >= 8000",
        "stt.whisper.kind: unknown stt kind 'whisper-cpp' (installed: fake-stt, faster-whisper)",
        "models.whisper-1: routes to instance 'nowhere'",
        "telemetry: unknown top-level table",
    ]:
        assert expected in result.stderr, f"{expected!r} missing from:\n{result.stderr}"
    assert "6 problem(s)" in result.stderr


def test_check_config_summarises_a_good_file(tmp_path, subprocess_env):
    path = tmp_path / "good.toml"
    path.write_text(GOOD)
    result = run(subprocess_env, "check-config", str(path))
    assert result.returncode == 0, result.stderr
    assert f"OK: {path}" in result.stdout
    assert "[tts.tone] kind=fake-tts preload=True" in result.stdout
    assert "model ids: tone, tts-1" in result.stdout


def test_check_config_without_a_file_checks_the_default(subprocess_env):
    result = run(subprocess_env, "check-config")
    assert result.returncode == 0, result.stderr
    assert "OK: <embedded default>" in result.stdout


def test_plugins_lists_builtins_and_installed_plugins(subprocess_env):
    result = run(subprocess_env, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["routing"]["distribution"] == "voxgate"
    assert plugins["routing"]["hooks"] == ["resolve_model"]
    fakes = plugins["fakes"]
    assert fakes["distribution"] == "voxgate-test-support"
    assert fakes["version"] == "1.0"
    assert fakes["kinds"] == {
        "diarize": ["fake-diarize"],
        "stt": ["fake-stt"],
        "transcoder": ["wav"],
        "tts": ["fake-tts"],
    }
    text = run(subprocess_env, "plugins").stdout
    assert "fakes  (voxgate-test-support 1.0)" in text
    assert "kinds: diarize: fake-diarize; stt: fake-stt; transcoder: wav; tts: fake-tts" in text


def test_plugins_are_listed_even_when_the_config_is_broken(tmp_path, subprocess_env):
    path = tmp_path / "bad.toml"
    path.write_text(BAD.replace("[plugins]\n", '[plugins]\ndisable = ["testroutes"]\n'))
    result = run(subprocess_env, "plugins", "--json", "--config", str(path))
    assert result.returncode == 1, "the config's problems still fail the command"
    names = {p["name"] for p in json.loads(result.stdout)}  # stdout is the whole list, as JSON
    assert {"routing", "fakes"} <= names
    assert "testroutes" not in names, "the broken file's [plugins] table still selects"
    assert "server.port: Expected `int`, got `str`" in result.stderr
    assert "6 problem(s)" in result.stderr
    text = run(subprocess_env, "plugins", "--config", str(path))
    assert text.returncode == 1
    assert "fakes  (voxgate-test-support 1.0)" in text.stdout
    assert "telemetry: unknown top-level table" in text.stderr


def test_plugins_are_listed_even_when_the_config_is_not_toml(tmp_path, subprocess_env):
    path = tmp_path / "broken.toml"
    path.write_text("this is = = not TOML\n")
    result = run(subprocess_env, "plugins", "--json", "--config", str(path))
    assert result.returncode == 1
    assert {"routing", "fakes"} <= {p["name"] for p in json.loads(result.stdout)}
    assert "invalid TOML" in result.stderr


def test_plugins_json_is_installed_plugins(subprocess_env):
    """The CLI prints what ``voxgate.testing.installed_plugins`` returns, in a subprocess too."""
    code = (
        "import json, msgspec; from voxgate.testing import installed_plugins; "
        "print(json.dumps(msgspec.to_builtins(list(installed_plugins().values()))))"
    )
    helper = subprocess.run(
        [sys.executable, "-c", code], env=subprocess_env, capture_output=True, text=True, check=True
    )
    cli = run(subprocess_env, "plugins", "--json")
    assert cli.returncode == 0, cli.stderr
    assert json.loads(helper.stdout) == json.loads(cli.stdout)
    assert "fakes" in {p["name"] for p in json.loads(cli.stdout)}


def test_plugin_selection_by_environment(subprocess_env):
    only_builtins = run({**subprocess_env, "VOXGATE_LOAD_PLUGINS": ""}, "plugins", "--json")
    names = {p["name"] for p in json.loads(only_builtins.stdout)}
    assert "routing" in names
    assert "fakes" not in names
    disabled = run(
        {**subprocess_env, "VOXGATE_DISABLE_PLUGINS": "routing,testroutes"}, "plugins", "--json"
    )
    names = {p["name"] for p in json.loads(disabled.stdout)}
    assert "fakes" in names
    assert not names & {"routing", "testroutes"}


def test_plugin_selection_by_config_file(tmp_path, subprocess_env):
    path = tmp_path / "select.toml"
    path.write_text('[plugins]\nload = ["voxgate-test-support"]\ndisable = ["testroutes"]\n')
    result = run(subprocess_env, "plugins", "--json", "--config", str(path))
    names = {p["name"] for p in json.loads(result.stdout)}
    assert {"routing", "fakes"} <= names
    assert "testroutes" not in names


def test_models_lists_routes(tmp_path, subprocess_env):
    path = tmp_path / "good.toml"
    path.write_text(GOOD)
    result = run(subprocess_env, "models", "--config", str(path))
    assert result.stdout.splitlines() == [
        "tone  -> tts instance (kind fake-tts)",
        "tts-1  -> tts=tone",
    ]


def test_models_lists_patterns_last_in_the_order_they_are_tried(tmp_path, subprocess_env):
    path = tmp_path / "patterns.toml"
    path.write_text(GOOD + '"*" = "tone"\n"gpt-*-tts*" = { tts = "tone" }\n')
    result = run(subprocess_env, "models", "--config", str(path))
    assert result.stdout.splitlines() == [
        "tone  -> tts instance (kind fake-tts)",
        "tts-1  -> tts=tone",
        "gpt-*-tts*  -> tts=tone  (pattern)",
        "*  -> tts=tone  (pattern)",
    ]


def test_version_and_module_entry(subprocess_env):
    result = subprocess.run(
        [sys.executable, "-m", "voxgate", "--version"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "voxgate 0.1.0"
