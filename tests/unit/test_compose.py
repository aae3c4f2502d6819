"""compose.yaml and its HAProxy config: replicas share Valkey, HAProxy checks /ready.

HAProxy's own parser checks the config (``haproxy -c``), as it would at start.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml
from system_servers import binary

from voxgate.config import ServerSettings

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CONFIG = ROOT / "deploy" / "compose" / "haproxy.cfg"


def services() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))["services"]


def test_replicas_share_the_valkey_service() -> None:
    found = services()
    voxgate = found["voxgate"]
    url = voxgate["environment"]["VOXGATE_STATE_URL"]
    assert re.fullmatch(r"redis://valkey:6379/\d+", url)
    assert "valkey" in found
    assert voxgate["deploy"]["replicas"] >= 2
    assert voxgate["depends_on"]["valkey"]["condition"] == "service_healthy"
    grace = float(voxgate["stop_grace_period"].removesuffix("s"))
    assert grace > ServerSettings().shutdown_timeout, "the drain finishes before the kill"


def test_haproxy_config_is_valid_and_checks_ready() -> None:
    result = subprocess.run(
        [binary("haproxy"), "-c", "-f", str(HAPROXY_CONFIG)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr + result.stdout
    text = HAPROXY_CONFIG.read_text(encoding="utf-8")
    assert "option httpchk GET /ready" in text
    assert "timeout tunnel" in text, "WebSocket sessions outlive the HTTP timeouts"
    mounted = services()["haproxy"]["volumes"][0].split(":")[0]
    assert (ROOT / mounted).resolve() == HAPROXY_CONFIG
