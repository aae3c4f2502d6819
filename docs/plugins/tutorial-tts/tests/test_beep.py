from typing import Any, ClassVar

import openai
import pytest
import voxgate_beep

from voxgate.testing import TtsEngineContract, fakes, installed_plugins

# The test app holds only the plugins a test names: `fakes` brings a WAV transcoder (a real
# server has the built-in PyAV one) and the [transcoder] table picks it.
PLUGINS = [voxgate_beep, fakes]
CONFIG = """
[tts.beep]
kind = "beep"

[models]
"tts-1" = { tts = "beep" }

[transcoder]
kind = "wav"
"""


class TestBeepContract(TtsEngineContract):
    engine = voxgate_beep.BeepEngine
    config: ClassVar[dict[str, Any]] = {"sample_rate": 16_000}
    voice = "low"


async def test_speech_through_the_openai_sdk(openai_client_factory):
    async with openai_client_factory(plugins=PLUGINS, toml=CONFIG) as client:
        speech = await client.audio.speech.create(
            model="tts-1", voice="low", input="Hello from voxgate", response_format="wav"
        )
    wav = speech.content
    assert wav[:4] == b"RIFF"
    seconds = (len(wav) - 44) / (2 * 24_000)  # 16-bit samples at OpenAI's 24 kHz
    assert seconds == pytest.approx(3 * 0.25, abs=0.01)  # three words, a quarter second each


async def test_unknown_voice_is_refused_before_any_audio(openai_client_factory):
    async with openai_client_factory(plugins=PLUGINS, toml=CONFIG) as client:
        with pytest.raises(openai.BadRequestError) as excinfo:
            await client.audio.speech.create(
                model="tts-1", voice="alloy", input="Hello", response_format="wav"
            )
    assert excinfo.value.param == "voice"
    assert "use one of high, low" in excinfo.value.message


VOICES = """
[voices.beep]
alloy = "high"
"""


async def test_openai_voice_names_can_map_to_beeps(openai_client_factory):
    async with openai_client_factory(plugins=PLUGINS, toml=CONFIG + VOICES) as client:
        speech = await client.audio.speech.create(
            model="tts-1", voice="alloy", input="Hello", response_format="wav"
        )
    assert speech.content[:4] == b"RIFF"


def test_voxgate_finds_the_installed_plugin():
    plugins = installed_plugins()  # entry-point discovery, as `voxgate serve` does it
    assert "beep" in plugins, "is the plugin installed (`pip install -e .`)?"
    assert plugins["beep"].distribution == "voxgate-beep"
    assert plugins["beep"].hooks == ["register_tts_engines"]
    assert plugins["beep"].kinds == {"tts": ["beep"]}
