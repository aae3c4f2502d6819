"""docs/migrating.md's examples, run as they are against ``voxgate serve`` with its config.

Every fenced block after a ``<!-- migrating: NAME -->`` marker is taken from the page: ``config``
is the server's config file; the others run in page order, in one directory (Python in a fresh
interpreter, shell in bash), as a user would paste them, with only the port changed. Each has
its check here, and a block without a check (or a check without a block) fails, so the page and
the test cannot drift apart. Later blocks read files earlier ones wrote (``aria.wav``,
``audio.wav``): run the module, not one block alone.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
import sys
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import httpx
import numpy as np
import pytest

from tests.contract.conftest import Server, start_server, stop_server, wait_ready

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "migrating.md"
PAGE_URL = "localhost:8000"
_BLOCK = re.compile(
    r"<!-- migrating: (?P<name>[\w-]+) -->\n```(?P<lang>\w+)\n(?P<code>.*?)\n```", re.DOTALL
)
RUNNERS = {"python": [sys.executable, "-c"], "sh": ["bash", "-c"]}


@dataclass(frozen=True)
class Block:
    name: str
    lang: str
    code: str


def page_blocks() -> list[Block]:
    return [Block(**match.groupdict()) for match in _BLOCK.finditer(GUIDE.read_text())]


BLOCKS = page_blocks()
CONFIG = next(block.code for block in BLOCKS if block.name == "config")
EXAMPLES = [block for block in BLOCKS if block.name != "config"]


@dataclass(frozen=True)
class Migration:
    server: Server
    workdir: Path

    def run(self, block: Block) -> subprocess.CompletedProcess[bytes]:
        base = self.server.base_url.removeprefix("http://")
        code = block.code.replace(PAGE_URL, base)
        env = {key: value for key, value in os.environ.items() if not key.startswith("VOXGATE_")}
        env |= {"OPENAI_API_KEY": "anything", "OPENAI_BASE_URL": f"http://{base}/v1"}
        done = subprocess.run(
            [*RUNNERS[block.lang], code],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        output = (done.stdout + done.stderr).decode(errors="replace")
        assert done.returncode == 0, f"{block.name} failed:\n{output}\n{self.server.log[-3000:]}"
        return done


@pytest.fixture(scope="module")
def migration(
    tmp_path_factory: pytest.TempPathFactory, subprocess_env: dict[str, str]
) -> Iterator[Migration]:
    """``voxgate serve --config`` with the page's config; the examples' working directory."""
    workdir = tmp_path_factory.mktemp("migrating")
    server = start_server(workdir, subprocess_env, CONFIG, timeout=60)
    try:
        wait_ready(server, timeout=120)
        yield Migration(server, workdir)
    finally:
        stop_server(server)


# -- what each example must have done ------------------------------------------------------------


def wav_seconds(data: bytes) -> tuple[float, int]:
    """Seconds of audio in a (streamed) WAV and its rate; its header's size is not to be trusted."""
    assert data[:4] == b"RIFF"
    with wave.open(io.BytesIO(data)) as reader:
        rate = reader.getframerate()
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    assert np.sqrt(np.mean((samples / 32768.0) ** 2)) > 0.01, "not silence"
    return len(samples) / rate, rate


def mp3_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        assert container.format.name == "mp3"
        return sum(frame.samples for frame in container.decode(audio=0)) / 24_000


def check_h2ogpt_streamed(m: Migration, _: subprocess.CompletedProcess[bytes]) -> None:
    data = (m.workdir / "speech_local.wav").read_bytes()
    assert data.count(b"RIFF") == 1, "stream_strip=True: one header"
    seconds, rate = wav_seconds(data)
    assert rate == 24_000
    assert seconds > 10, "the whole paragraph, in the default voice"


def check_h2ogpt(m: Migration, _: subprocess.CompletedProcess[bytes]) -> None:
    assert mp3_seconds(m.workdir / "speech_local2.wav") > 8, "mp3: `format` is not a field"


def check_alltalk_speech(_: Migration, done: subprocess.CompletedProcess[bytes]) -> None:
    seconds, _rate = wav_seconds(done.stdout)
    assert seconds > 1


def check_alltalk_voicemap(m: Migration, done: subprocess.CompletedProcess[bytes]) -> None:
    remapped = {"alloy", "echo", "fable", "nova"}
    expected = dict.fromkeys(remapped, "female_01.wav")
    expected |= {"onyx": "male_01.wav", "shimmer": "male_02.wav"}
    expected |= {"default": "en_US-joe-medium", "aria": "en_US-joe-medium"}
    assert json.loads(done.stdout) == {"piper": expected}
    # as the page says: Piper has no `female_01.wav`, so `nova` is now a 400 naming `voice`
    refused = httpx.post(
        f"{m.server.base_url}/v1/audio/speech",
        json={"model": "tts-1", "voice": "nova", "input": "Hello."},
        timeout=60,
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "voice"


def check_a15t_speech(m: Migration, _: subprocess.CompletedProcess[bytes]) -> None:
    seconds, rate = wav_seconds((m.workdir / "aria.wav").read_bytes())
    assert rate == 16_000, "model_extensions.sr"
    assert seconds > 1.5, "Korean is spoken, not skipped"


def check_a15t_live(_: Migration, done: subprocess.CompletedProcess[bytes]) -> None:
    messages = [ast.literal_eval(line) for line in done.stdout.decode().splitlines()]
    finals = [m for m in messages if m["message_type"] == "FinalTranscript"]
    assert finals, messages
    assert "".join(final["text"] for final in finals).strip()


def check_speaches_speech_sdk(m: Migration, _: subprocess.CompletedProcess[bytes]) -> None:
    assert 0.5 < mp3_seconds(m.workdir / "output.mp3") < 5


def check_speaches_speech_curl(m: Migration, _: subprocess.CompletedProcess[bytes]) -> None:
    seconds, _rate = wav_seconds((m.workdir / "audio.wav").read_bytes())
    assert 0.5 < seconds < 5
    faster = mp3_seconds(m.workdir / "audio.mp3")  # the last one: speed 2.0
    assert faster == pytest.approx(seconds / 2, rel=0.3)


def heard_hello_world(text: str) -> bool:
    words = re.findall(r"[a-z]+", text.lower())
    return words[:2] == ["hello", "world"]


def check_speaches_transcribe_sdk(_: Migration, done: subprocess.CompletedProcess[bytes]) -> None:
    assert heard_hello_world(done.stdout.decode()), done.stdout


def check_speaches_transcribe_curl(_: Migration, done: subprocess.CompletedProcess[bytes]) -> None:
    assert heard_hello_world(json.loads(done.stdout)["text"]), done.stdout


def check_kokoro_fastapi(m: Migration, _: subprocess.CompletedProcess[bytes]) -> None:
    assert 0.5 < mp3_seconds(m.workdir / "output.mp3") < 5


CHECKS: dict[str, Callable[[Migration, subprocess.CompletedProcess[bytes]], None]] = {
    "h2ogpt-speech-streamed": check_h2ogpt_streamed,
    "h2ogpt-speech": check_h2ogpt,
    "alltalk-speech": check_alltalk_speech,
    "alltalk-voicemap": check_alltalk_voicemap,
    "a15t-speech": check_a15t_speech,
    "a15t-live": check_a15t_live,
    "speaches-speech-sdk": check_speaches_speech_sdk,
    "speaches-speech-curl": check_speaches_speech_curl,
    "speaches-transcribe-sdk": check_speaches_transcribe_sdk,
    "speaches-transcribe-curl": check_speaches_transcribe_curl,
    "kokoro-fastapi-speech": check_kokoro_fastapi,
}


def test_every_example_has_a_check_and_the_page_is_linked():
    assert [block.name for block in EXAMPLES] == list(CHECKS)
    assert {block.lang for block in EXAMPLES} <= set(RUNNERS)
    assert all(
        PAGE_URL in block.code for block in EXAMPLES if block.name != "speaches-transcribe-sdk"
    )
    assert "(docs/migrating.md)" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("block", EXAMPLES, ids=[block.name for block in EXAMPLES])
def test_the_example_runs_unchanged(migration: Migration, block: Block):
    CHECKS[block.name](migration, migration.run(block))


@pytest.mark.parametrize(("model", "voice"), [("skt/axtts-2-6", "aria"), ("kokoro", "alloy")])
def test_text_the_voice_cannot_read_is_a_400_naming_input(
    migration: Migration, model: str, voice: str
):
    """What the page says of unreadable text, on the real engines: never silence, never a 5xx."""
    response = httpx.post(
        f"{migration.server.base_url}/v1/audio/speech",
        json={"model": model, "voice": voice, "input": "①"},
        timeout=60,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "input"
