"""One upload of long FLAC silence, and how much it raised this process's peak RSS.

Run in a fresh interpreter (peak RSS only ever grows, so a process measures one upload):

    python tests/support/upload_rss.py --seconds 3600 [--max-decoded-seconds 14400] [--rate 16000]

The app runs in-process on the fake STT engine (reading uploads in 60 s windows, as
faster-whisper reads them in ``window_seconds``) with the PyAV transcoder. Prints one JSON
line: the HTTP status, the file's size and the growth of peak RSS in MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from audio_files import silence

import voxgate_pyav
from voxgate.testing import app_client, fakes

TOML = """
[transcoder]
kind = "pyav"
max_decoded_seconds = {limit}

[stt.fake-stt]
kind = "fake-stt"
segment_seconds = 600.0
window_seconds = 60.0

[models]
"whisper-1" = "fake-stt"
"""


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(seconds: float, limit: float, rate: int) -> dict[str, object]:
    data = silence("flac", "flac", rate, seconds)
    warm = silence("flac", "flac", 16_000, 5)
    async with app_client(TOML.format(limit=limit), [fakes, voxgate_pyav]) as http:
        form = {"model": "whisper-1"}
        response = await http.post(
            "/v1/audio/transcriptions", data=form, files={"file": ("upload", warm)}
        )
        response.raise_for_status()  # every import and first-use allocation done
        before = peak_mib()
        response = await http.post(
            "/v1/audio/transcriptions", data=form, files={"file": ("upload", data)}
        )
        after = peak_mib()
    return {
        "status": response.status_code,
        "bytes": len(data),
        "growth_mib": round(after - before, 1),
        "body": response.json(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--max-decoded-seconds", type=float, default=14_400.0)
    parser.add_argument("--rate", type=int, default=16_000, help="the FLAC's sample rate")
    args = parser.parse_args()
    result = asyncio.run(measure(args.seconds, args.max_decoded_seconds, args.rate))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
