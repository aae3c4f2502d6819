"""Checks of the tutorial that builds this package (docs/plugins/tutorial-tts-engine.md).

Its first version of the plugin (steps/), the commands it runs and what they print (the
tutorial shows the constants below), and its client examples against a real
``voxgate serve``. ``test_beep.py`` holds the plugin's own tests, which the tutorial shows.
"""

import ast
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from voxgate.testing import TtsEngineContract, fakes

HERE = Path(__file__).resolve().parents[1]  # the package: pyproject.toml, voxgate.toml, ...
CONFIG = (HERE / "voxgate.toml").read_text()
TEST_CONFIG = CONFIG + '\n[transcoder]\nkind = "wav"\n'  # the WAV encoder of `fakes`


def load_file(path: Path) -> ModuleType:
    """A Python file of the package that is never installed (steps/) as a module of its own."""
    spec = importlib.util.spec_from_file_location(f"beep_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_voxgate_toml_is_in_the_config_of_test_beep():
    tests = ast.parse((HERE / "tests" / "test_beep.py").read_text())
    (tested,) = (
        ast.literal_eval(node.value)
        for node in tests.body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "CONFIG"
    )
    assert CONFIG.strip() in tested


# -- the tutorial's first version (section 1) -----------------------------------------------

step1 = load_file(HERE / "steps" / "step1_voxgate_beep.py")


class TestStep1Contract(TtsEngineContract):
    """The two-file version passes the contract suite, but for what later sections add."""

    engine = step1.BeepEngine

    @pytest.mark.xfail(reason="section 1's engine ignores speed; section 6 adds it", strict=True)
    def test_speed_changes_duration(self, loaded):
        super().test_speed_changes_duration(loaded)

    @pytest.mark.xfail(
        reason="section 1's engine takes any voice; section 5 adds check()", strict=True
    )
    def test_check_accepts_its_voices_and_rejects_others(self, loaded):
        super().test_check_accepts_its_voices_and_rejects_others(loaded)


async def test_step1_speaks_through_the_openai_sdk(openai_client_factory):
    async with openai_client_factory(plugins=[step1, fakes], toml=TEST_CONFIG) as client:
        speech = await client.audio.speech.create(
            model="tts-1", voice="beep", input="Hello from voxgate", response_format="wav"
        )
    assert (len(speech.content) - 44) / (2 * 24_000) == pytest.approx(1.0, abs=0.01)


def test_step1_pyproject_announces_the_same_plugin():
    first = tomllib.loads((HERE / "steps" / "step1_pyproject.toml").read_text())
    final = tomllib.loads((HERE / "pyproject.toml").read_text())
    assert first["project"]["name"] == final["project"]["name"] == "voxgate-beep"
    declared = {"voxgate": {"beep": "voxgate_beep"}}
    assert first["project"]["entry-points"] == final["project"]["entry-points"] == declared


# -- the commands of the tutorial, and what they print --------------------------------------

PLUGINS_OUTPUT = """
beep  (voxgate-beep 0.1.0)
  hooks: register_tts_engines
  kinds: tts: beep
"""

CHECK_CONFIG_OUTPUT = """
OK: voxgate.toml
  instances: 0 stt, 1 tts, 0 chat
    [tts.beep] kind=beep preload=False
  model ids: beep, tts-1
  transcoder: pyav
  listen: 127.0.0.1:8000
  auth: open (no API keys)
"""

BAD_CONFIG_OUTPUT = """
voxgate: 2 problem(s) in bad.toml:
  - tts.beep.frequency_hz: Expected `float` > 0.0
  - tts.beep.frequncy_hz: unknown key (known keys: concurrency, frequency_hz, idle_ttl, kind, max_queue, preload, queue_timeout, sample_rate, seconds_per_word)
"""  # noqa: E501


def clean_environ(**overrides: str) -> dict[str, str]:
    """This process's environment without VOXGATE_* settings, and only this plugin loaded."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("VOXGATE_")}
    return {**environ, "VOXGATE_LOAD_PLUGINS": "beep", **overrides}


def voxgate(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``voxgate`` command in the package directory, as the tutorial does."""
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "voxgate", *args],
        cwd=HERE,
        env=clean_environ(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_voxgate_plugins_lists_it():
    result = voxgate("plugins")
    assert result.returncode == 0, result.stderr
    assert PLUGINS_OUTPUT.strip() in result.stdout


def test_check_config_accepts_voxgate_toml():
    result = voxgate("check-config", "voxgate.toml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == CHECK_CONFIG_OUTPUT.strip()


def test_check_config_reports_every_problem_of_bad_toml():
    result = voxgate("check-config", "bad.toml")
    assert result.returncode == 1
    assert result.stderr.strip() == BAD_CONFIG_OUTPUT.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``voxgate serve --config voxgate.toml`` on a free port; yields its OpenAI base URL."""
    tmp_path = tmp_path_factory.mktemp("server")
    port = free_port()
    command = [sys.executable, "-m", "voxgate", "serve", "--config", "voxgate.toml"]
    with (tmp_path / "server.log").open("wb") as log:
        server = subprocess.Popen(  # noqa: S603
            [*command, "--port", str(port)],
            cwd=HERE,
            env=clean_environ(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/ready").status_code == 200:  # noqa: PLR2004
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "voxgate serve did not get ready"
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            server.terminate()
            server.wait(timeout=30)


def run_example(base_url: str, cwd: Path, *command: str) -> None:
    """Run a command of the tutorial in ``cwd``; the SDK and curl read OPENAI_BASE_URL."""
    environ = clean_environ(OPENAI_BASE_URL=base_url, OPENAI_API_KEY="unused")
    subprocess.run(command, cwd=cwd, env=environ, check=True, timeout=120)  # noqa: S603


def test_python_example_against_a_real_server(served, tmp_path):
    run_example(served, tmp_path, sys.executable, str(HERE / "examples" / "say_hello.py"))
    mp3 = (tmp_path / "hello.mp3").read_bytes()
    assert mp3[:3] == b"ID3" or mp3[0] == 0xFF  # noqa: PLR2004 - an MP3 frame's sync byte


UNKNOWN_VOICE_ERROR = """
{"error":{"message":"Voice `alloy` is not available: use one of high, low.","type":"invalid_request_error","param":"voice","code":null}}
"""  # noqa: E501


def test_unknown_voice_on_a_real_server(served):
    body = {"model": "tts-1", "voice": "alloy", "input": "Hello from voxgate"}
    response = httpx.post(f"{served}/audio/speech", json=body)
    assert response.status_code == 400  # noqa: PLR2004
    assert response.text == UNKNOWN_VOICE_ERROR.strip()


# Under CI (CI=true) a missing curl fails the test instead of skipping it.
@pytest.mark.skipif(shutil.which("curl") is None and not os.environ.get("CI"), reason="needs curl")
def test_curl_example_against_a_real_server(served, tmp_path):
    run_example(served, tmp_path, "sh", str(HERE / "examples" / "say_hello.sh"))
    assert (tmp_path / "hello.wav").read_bytes()[:4] == b"RIFF"
