from pathlib import Path
from typing import ClassVar

import openai
import pytest
import voxgate_dtmf

from voxgate.testing import SttEngineContract, fakes, installed_plugins

AUDIO = Path(__file__).parent / "digits.wav"  # keypad tones: 5 5 5, a pause, 1 2 3 4

# The test app holds only the plugins a test names: `fakes` brings a WAV transcoder (a real
# server has the built-in PyAV one) and the [transcoder] table picks it.
PLUGINS = [voxgate_dtmf, fakes]
CONFIG = """
[stt.keypad]
kind = "dtmf"

[transcoder]
kind = "wav"
"""


class TestDtmfContract(SttEngineContract):
    engine = voxgate_dtmf.DtmfEngine
    audio = AUDIO
    expected_words: ClassVar[list[str]] = ["555", "1234"]


async def test_transcription_through_the_openai_sdk(openai_client_factory):
    async with openai_client_factory(plugins=PLUGINS, toml=CONFIG) as client:
        transcript = await client.audio.transcriptions.create(model="keypad", file=AUDIO)
    assert transcript.text == "555 1234"


async def test_segments_and_word_timestamps(openai_client_factory):
    async with openai_client_factory(plugins=PLUGINS, toml=CONFIG) as client:
        transcript = await client.audio.transcriptions.create(
            model="keypad",
            file=AUDIO,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    assert [segment.text for segment in transcript.segments or []] == ["555", "1234"]
    words = transcript.words or []
    assert [word.word for word in words] == ["5", "5", "5", "1", "2", "3", "4"]
    assert [round(word.start, 1) for word in words] == [0.0, 0.2, 0.4, 1.8, 2.0, 2.2, 2.4]


async def test_a_request_can_set_min_tone_ms(openai_client_factory):
    async with openai_client_factory(plugins=PLUGINS, toml=CONFIG) as client:
        transcript = await client.audio.transcriptions.create(
            model="keypad", file=AUDIO, extra_body={"min_tone_ms": 150}
        )
    assert transcript.text == ""  # every key in the file sounds for 100 ms


async def test_a_bad_min_tone_ms_is_a_400(openai_client_factory):
    async with openai_client_factory(plugins=PLUGINS, toml=CONFIG) as client:
        with pytest.raises(openai.BadRequestError) as excinfo:
            await client.audio.transcriptions.create(
                model="keypad", file=AUDIO, extra_body={"min_tone_ms": 5}
            )
    assert excinfo.value.param == "min_tone_ms"


async def test_what_the_engine_cannot_do_is_a_400(openai_client_factory):
    async with openai_client_factory(plugins=PLUGINS, toml=CONFIG) as client:
        with pytest.raises(openai.BadRequestError) as excinfo:
            await client.audio.transcriptions.create(
                model="keypad", file=AUDIO, include=["logprobs"]
            )
    assert excinfo.value.param == "include"  # its capabilities say: no logprobs


def test_voxgate_finds_the_installed_plugin():
    plugins = installed_plugins()  # entry-point discovery, as `voxgate serve` does it
    assert "dtmf" in plugins, "is the plugin installed (`pip install -e .`)?"
    assert plugins["dtmf"].distribution == "voxgate-dtmf"
    assert plugins["dtmf"].hooks == ["register_stt_engines"]
    assert plugins["dtmf"].kinds == {"stt": ["dtmf"]}
