"""A real ``voxgate serve`` process on a free loopback port, with a test plugin installed.

The test plugin reaches the subprocess the way any third-party plugin does: a distribution
(``*.dist-info`` with an ``entry_points.txt``) on the path, found through the ``voxgate``
entry-point group.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from fake_upstream import FakeUpstream
from servers import free_port

SUPPORT = Path(__file__).resolve().parents[1] / "support"
VOXGATE = Path(sys.executable).parent / "voxgate"


@dataclass
class Server:
    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="session")
def plugin_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    info = root / "voxgate_test_support-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: voxgate-test-support\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[voxgate]\ntestroutes = voxgate_test_routes\nfakes = voxgate.testing.fakes\n"
    )
    return root


@pytest.fixture(scope="session")
def subprocess_env(plugin_dist: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXGATE_")}
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(plugin_dist), str(SUPPORT), *inherited])
    env["VOXGATE_CACHE_DIR"] = str(plugin_dist / "cache")
    return env


def voxgate_command(*args: str) -> list[str]:
    if VOXGATE.exists():
        return [str(VOXGATE), *args]
    return [sys.executable, "-m", "voxgate", *args]


def start_server(
    workdir: Path, env: dict[str, str], toml: str | None = None, timeout: float = 30
) -> Server:
    """``voxgate serve`` on a free port, logging to a file in ``workdir``; healthy on return."""
    port = free_port()
    args = ["serve", "--port", str(port)]
    if toml is not None:
        config = workdir / f"voxgate-{port}.toml"
        config.write_text(toml)
        args += ["--config", str(config)]
    log_path = workdir / f"serve-{port}.log"
    with log_path.open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            voxgate_command(*args), env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{port}", log_path, process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"voxgate serve exited:\n{server.log}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.base_url}/health", timeout=1).status_code == 200:
                return server
        time.sleep(0.1)
    stop_server(server)
    pytest.fail(f"voxgate serve did not become healthy:\n{server.log}")


def stop_server(server: Server) -> None:
    """Terminate, then kill if it does not exit in 15 s."""
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def wait_ready(server: Server, timeout: float = 60) -> None:
    """Until ``/ready`` says every preload instance is loaded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{server.base_url}/ready", timeout=5).status_code == 200:
            return
        time.sleep(0.2)
    pytest.fail(f"voxgate serve did not become ready:\n{server.log}")


@pytest.fixture
def serve(tmp_path: Path, subprocess_env: dict[str, str]) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(toml: str | None = None, env: dict[str, str] | None = None) -> Server:
        server = start_server(tmp_path, {**subprocess_env, **(env or {})}, toml)
        started.append(server)
        return server

    yield start
    for server in started:
        stop_server(server)


@pytest.fixture(scope="session")
def default_server(
    tmp_path_factory: pytest.TempPathFactory,
    subprocess_env: dict[str, str],
    upstream_server: FakeUpstream,
) -> Iterator[Server]:
    """``voxgate serve`` with no config file: the embedded default, real bundled engines.

    Its chat proxy reaches the fake LLM through the variables speaches users set.
    """
    env = {**subprocess_env, "CHAT_COMPLETION_BASE_URL": upstream_server.url}
    server = start_server(tmp_path_factory.mktemp("default"), env, timeout=60)
    try:
        wait_ready(server, timeout=120)
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def client(default_server: Server) -> Iterator[openai.OpenAI]:
    """The official SDK pointed at ``default_server`` (no retries: errors surface as they are)."""
    with openai.OpenAI(
        base_url=f"{default_server.base_url}/v1", api_key="dummy", max_retries=0, timeout=120
    ) as sdk:
        yield sdk
