"""Memory per upload: a long file is decoded window by window, a refused one not at all.

Issue 16: uploads were decoded whole before the engine queue admitted them, so one hour of
FLAC silence (650 kB) raised peak RSS by 455 MiB and a file refused as too long still cost
460 MiB. Each case runs ``tests/support/upload_rss.py`` in a fresh interpreter, because peak
RSS only grows: the bound (150 MiB) is far from both the old cost and the new one (~25 MiB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import voxgate
import voxgate_pyav

SCRIPT = Path(__file__).parents[1] / "support" / "upload_rss.py"
BOUND_MIB = 150


def upload_rss(*args: str) -> dict[str, object]:
    roots = [str(Path(voxgate.__file__).parents[1]), str(Path(voxgate_pyav.__file__).parents[1])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*roots, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(150)
def test_an_hour_upload_is_never_decoded_whole():
    """230 MB of decoded samples if held at once; the engine reads 60 s windows instead."""
    result = upload_rss("--seconds", "3600")
    assert result["status"] == 200
    assert result["body"]["usage"]["seconds"] == 3600, "the duration comes from the decode"
    assert result["growth_mib"] < BOUND_MIB, result


@pytest.mark.timeout(150)
def test_a_file_refused_as_too_long_costs_no_decoding():
    """Two hours of FLAC at 8 kHz (1.3 MB) against a 2 h limit: refused from its packets."""
    result = upload_rss("--seconds", "7260", "--max-decoded-seconds", "7200", "--rate", "8000")
    assert result["status"] == 400
    assert "longer than the 2 hours" in result["body"]["error"]["message"]
    assert result["growth_mib"] < BOUND_MIB, result
