"""Real ``redis-server`` and ``haproxy`` processes on loopback, started and stopped by tests.

Both come from Debian packages (``apt-get install -y redis-server haproxy``, README.md). A
machine without them skips these tests, except under ``CI=true``, where a missing binary is a
failure: CI must run them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from servers import free_port

if TYPE_CHECKING:
    from pathlib import Path

INSTALL = "apt-get install -y redis-server haproxy"


def binary(name: str) -> str:
    """The path of ``name``; skip without it, fail under CI."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")
    if found is None:
        message = f"`{name}` is not installed (`{INSTALL}`)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def wait_port(port: int, timeout: float = 10) -> None:
    """Until something accepts connections on ``127.0.0.1:port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    pytest.fail(f"nothing listens on port {port} after {timeout} s")


@dataclass
class Redis:
    """One ``redis-server`` without persistence; ``stop()`` and ``start()`` keep its port."""

    workdir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        if not self.port:
            self.port = free_port()
        args = [binary("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        log = (self.workdir / f"redis-{self.port}.log").open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


HAPROXY_CONFIG = """\
global
    maxconn 256
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    retries 3
    option redispatch
frontend voxgate
    bind 127.0.0.1:{port}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    retry-on conn-failure empty-response response-timeout
{servers}
"""


@dataclass
class HAProxy:
    """HAProxy balancing round-robin over ``backends`` (``host:port``), checking ``/ready``."""

    workdir: Path
    backends: list[str]
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HAProxy:
        self.port = free_port()
        servers = "\n".join(
            f"    server r{index} {backend} check inter 500ms fall 2 rise 1"
            for index, backend in enumerate(self.backends)
        )
        config = self.workdir / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(port=self.port, servers=servers))
        binary_path = binary("haproxy")
        subprocess.run([binary_path, "-c", "-q", "-f", str(config)], check=True)
        log = (self.workdir / "haproxy.log").open("ab")
        self.process = subprocess.Popen(
            [binary_path, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
