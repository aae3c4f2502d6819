"""Checks of the tutorial that builds this package (docs/plugins/tutorial-stt-engine.md).

Its first version of the plugin (steps/), and its commands against a real ``voxgate serve``
with what they print (the tutorial shows the constants below). ``test_dtmf.py`` holds the
plugin's own tests, which the tutorial shows.
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
import wave
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import ClassVar

import httpx
import numpy as np
import pytest
from numpy.typing import NDArray

from voxgate.testing import SttEngineContract, fakes

HERE = Path(__file__).resolve().parents[1]  # the package: pyproject.toml, voxgate.toml, ...
CONFIG = (HERE / "voxgate.toml").read_text()
TEST_CONFIG = CONFIG + '\n[transcoder]\nkind = "wav"\n'  # the WAV decoder of `fakes`
AUDIO = HERE / "tests" / "digits.wav"


def load_file(path: Path) -> ModuleType:
    """A Python file of the package that is never installed (steps/) as a module of its own."""
    spec = importlib.util.spec_from_file_location(f"dtmf_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_voxgate_toml_is_in_the_config_of_test_dtmf():
    tests = ast.parse((HERE / "tests" / "test_dtmf.py").read_text())
    (tested,) = (
        ast.literal_eval(node.value)
        for node in tests.body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "CONFIG"
    )
    assert CONFIG.strip() in tested


# -- the tutorial's first version (section 1) -----------------------------------------------

step1 = load_file(HERE / "steps" / "step1_voxgate_dtmf.py")


STEP1_OUTPUT = """
5551234
"""


class TestStep1Contract(SttEngineContract):
    engine = step1.DtmfEngine
    audio = AUDIO
    expected_words: ClassVar[list[str]] = [STEP1_OUTPUT.strip()]


async def test_step1_transcribes_through_the_openai_sdk(openai_client_factory):
    async with openai_client_factory(plugins=[step1, fakes], toml=TEST_CONFIG) as client:
        transcript = await client.audio.transcriptions.create(model="keypad", file=AUDIO)
    assert transcript.text == STEP1_OUTPUT.strip()


def test_step1_pyproject_announces_the_same_plugin():
    first = tomllib.loads((HERE / "steps" / "step1_pyproject.toml").read_text())
    final = tomllib.loads((HERE / "pyproject.toml").read_text())
    assert first["project"]["name"] == final["project"]["name"] == "voxgate-dtmf"
    declared = {"voxgate": {"dtmf": "voxgate_dtmf"}}
    assert first["project"]["entry-points"] == final["project"]["entry-points"] == declared


# -- the commands of the tutorial, and what they print --------------------------------------

PLUGINS_OUTPUT = """
dtmf  (voxgate-dtmf 0.1.0)
  hooks: register_stt_engines
  kinds: stt: dtmf
"""

TRANSCRIBE_PY_OUTPUT = """
555 1234
"""

TRANSCRIBE_SH_OUTPUT = """
1
00:00:00,000 --> 00:00:00,495
555

2
00:00:01,800 --> 00:00:02,495
1234
"""


def clean_environ(**overrides: str) -> dict[str, str]:
    """This process's environment without VOXGATE_* settings, and only this plugin loaded."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("VOXGATE_")}
    return {**environ, "VOXGATE_LOAD_PLUGINS": "dtmf", **overrides}


def test_voxgate_plugins_lists_it():
    result = subprocess.run(
        [sys.executable, "-m", "voxgate", "plugins"],
        env=clean_environ(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert PLUGINS_OUTPUT.strip() in result.stdout


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


def run_example(base_url: str, cwd: Path, *command: str) -> str:
    """Run a command of the tutorial in ``cwd``; the SDK and curl read OPENAI_BASE_URL."""
    environ = clean_environ(OPENAI_BASE_URL=base_url, OPENAI_API_KEY="unused")
    return subprocess.run(  # noqa: S603
        command, cwd=cwd, env=environ, capture_output=True, text=True, check=True, timeout=120
    ).stdout


def samples(wav: Path) -> NDArray[np.int16]:
    with wave.open(str(wav)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth()) == (1, 2)
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")


def test_digits_wav_is_what_dial_py_makes(tmp_path):
    dial = [sys.executable, str(HERE / "examples" / "dial.py"), "555 1234", "digits.wav"]
    subprocess.run(dial, cwd=tmp_path, check=True, timeout=120)  # noqa: S603
    made, kept = samples(tmp_path / "digits.wav"), samples(AUDIO)
    assert made.shape == kept.shape
    assert np.abs(made.astype(int) - kept).max() <= 1  # the last bit may differ across CPUs


def test_python_example_against_a_real_server(served, tmp_path):
    dial = [sys.executable, str(HERE / "examples" / "dial.py"), "555 1234", "digits.wav"]
    run_example(served, tmp_path, *dial)
    output = run_example(served, tmp_path, sys.executable, str(HERE / "examples" / "transcribe.py"))
    assert output.strip() == TRANSCRIBE_PY_OUTPUT.strip()


# Under CI (CI=true) a missing curl fails the test instead of skipping it.
@pytest.mark.skipif(shutil.which("curl") is None and not os.environ.get("CI"), reason="needs curl")
def test_curl_example_against_a_real_server(served, tmp_path):
    shutil.copy(AUDIO, tmp_path / "digits.wav")
    output = run_example(served, tmp_path, "sh", str(HERE / "examples" / "transcribe.sh"))
    assert output.strip() == TRANSCRIBE_SH_OUTPUT.strip()
