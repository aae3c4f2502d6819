"""/v1/audio/speech as other servers' clients call it: h2oGPT's fields, unreadable input.

h2oGPT sends ``voice: ""`` and names its voice in ``speaker`` / ``chatbot_role``; its flags
come as booleans or as strings. The fake engine's voices are ``tone`` (440 Hz) and ``low``
(220 Hz), so which voice spoke is read from the audio's pitch.
"""

from __future__ import annotations

import io
import wave
from typing import ClassVar

import numpy as np
import openai
import pytest
import structlog

import voxgate_pyav
import voxgate_voices
from tests.conftest import PYAV_TOML
from voxgate import hookimpl
from voxgate.testing import app_client, openai_client
from voxgate.testing.fakes import FakeTtsEngine

TEXT = "One two three four. Five six seven eight nine ten."
MAPPED = PYAV_TOML + '\n[voices.tone]\nalloy = "tone"\nnova = "low"\n'


@pytest.fixture
def speech_plugins(plugins):
    return [*plugins, voxgate_voices, voxgate_pyav]


def pitch(wav: bytes) -> float:
    """The dominant frequency of the first WAV in ``wav``."""
    with wave.open(io.BytesIO(wav)) as reader:
        rate = reader.getframerate()
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float32)))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


async def speak(toml: str, plugins: list[object], **fields: object) -> bytes:
    body = {"model": "tts-1", "input": TEXT, "response_format": "wav", **fields}
    async with app_client(toml, plugins) as http:
        response = await http.post("/v1/audio/speech", json=body)
    assert response.status_code == 200, response.text
    return response.content


async def test_h2ogpts_documented_request_speaks_with_the_default_voice(speech_plugins):
    async with openai_client(MAPPED, speech_plugins) as client:
        async with client.audio.speech.with_streaming_response.create(
            model="tts-1",
            voice="",
            extra_body={
                "stream": True,
                "chatbot_role": "Female AI Assistant",
                "speaker": "SLT (female)",
                "stream_strip": True,
            },
            response_format="wav",
            input=TEXT,
        ) as response:
            data = await response.read()
    assert data.count(b"RIFF") == 1
    assert pitch(data) == pytest.approx(440, abs=5), "alloy's voice, tone"


@pytest.mark.parametrize("voice", [{"voice": ""}, {"voice": "  "}, {}])
async def test_an_empty_or_missing_voice_is_default_then_alloy(speech_plugins, voice):
    assert pitch(await speak(MAPPED, speech_plugins, **voice)) == pytest.approx(440, abs=5)
    with_default = MAPPED.replace('nova = "low"', 'nova = "low"\ndefault = "low"')
    assert pitch(await speak(with_default, speech_plugins, **voice)) == pytest.approx(220, abs=5)


async def test_an_empty_voice_without_a_default_is_400_saying_how_to_set_one(speech_plugins):
    async with openai_client(PYAV_TOML, speech_plugins) as client:
        with pytest.raises(openai.BadRequestError) as info:
            await client.audio.speech.create(model="tts-1", voice="", input=TEXT)
    assert info.value.body["param"] == "voice"
    assert "[voices.tone]" in info.value.message


@pytest.mark.parametrize(
    ("hints", "hz"),
    [
        ({"speaker": "low"}, 220),  # an engine voice
        ({"chatbot_role": "nova"}, 220),  # a mapped name
        ({"speaker": "SLT (female)", "chatbot_role": "Nova"}, 220),  # the first that is one
        ({"speaker": "tone", "chatbot_role": "low"}, 440),  # speaker first
        ({"speaker": "None", "chatbot_role": "None"}, 440),  # h2oGPT's own "None"
    ],
)
async def test_speaker_and_chatbot_role_name_the_voice_when_it_is_empty(speech_plugins, hints, hz):
    data = await speak(MAPPED, speech_plugins, voice="", **hints)
    assert pitch(data) == pytest.approx(hz, abs=5)


async def test_hints_never_override_a_voice(speech_plugins):
    data = await speak(MAPPED, speech_plugins, voice="low", speaker="tone", chatbot_role="tone")
    assert pitch(data) == pytest.approx(220, abs=5)


async def test_an_ignored_hint_is_logged(speech_plugins):
    with structlog.testing.capture_logs() as logs:
        await speak(MAPPED, speech_plugins, voice="", speaker="SLT (female)")
    ignored = [log for log in logs if log["event"].startswith("voice hint ignored")]
    assert ignored == [
        {
            "event": "voice hint ignored: not a voice of this instance",
            "log_level": "info",
            "field": "speaker",
            "value": "SLT (female)",
            "instance": "tone",
        }
    ]


@pytest.mark.parametrize(("flag", "standalone"), [("false", True), ("true", False)])
async def test_h2ogpt_flags_as_strings(speech_plugins, flag, standalone):
    data = await speak(MAPPED, speech_plugins, voice="", stream="true", stream_strip=flag)
    assert data.count(b"RIFF") == (2 if standalone else 1)


@pytest.mark.parametrize(
    ("field", "value"),
    [("stream_strip", "no"), ("stream", "yes"), ("speaker", 3), ("chatbot_role", "x" * 257)],
)
async def test_bad_h2ogpt_fields_are_400_naming_them(speech_plugins, field, value):
    body = {"model": "tts-1", "voice": "", "input": TEXT, field: value}
    async with app_client(MAPPED, speech_plugins) as http:
        response = await http.post("/v1/audio/speech", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == field


class EnglishOnlyTts(FakeTtsEngine):
    """Says only the ASCII words, as an English voice leaves ``①`` out: nothing for the rest."""

    kind: ClassVar[str] = "english-only-tts"

    def synthesize(self, text, voice, options):
        yield from super().synthesize(
            " ".join(w for w in text.split() if w.isascii()), voice, options
        )


class EnglishOnlyPlugin:
    @hookimpl
    def register_tts_engines(self, register):
        register(EnglishOnlyTts)


ENGLISH_ONLY = PYAV_TOML.replace('kind = "fake-tts"', 'kind = "english-only-tts"')


async def test_input_the_voice_cannot_read_at_all_is_400_naming_input(speech_plugins):
    async with openai_client(ENGLISH_ONLY, [*speech_plugins, EnglishOnlyPlugin()]) as client:
        with pytest.raises(openai.BadRequestError) as info:
            await client.audio.speech.create(model="tts-1", voice="tone", input="① ② ③")
        partly = await client.audio.speech.create(
            model="tts-1", voice="tone", input="One ① two.", response_format="pcm"
        )
    assert info.value.body["param"] == "input"
    assert "cannot read" in info.value.message
    assert len(partly.content) == 2 * 24_000 * 2 // 10, "the words it can read are spoken"
