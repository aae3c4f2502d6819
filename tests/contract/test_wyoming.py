"""The Wyoming protocol against a real ``voxgate serve``: the default config, real engines.

One process serves the OpenAI HTTP API and Home Assistant's Wyoming protocol from the same
loaded models; the ``wyoming`` package's own client drives it, and synthesized speech is
transcribed back through the HTTP API, so "it says the words" is measured.
"""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import numpy as np
import openai
import pytest
from servers import free_port
from wer import wer
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from tests.contract.conftest import Server, start_server, stop_server, wait_ready
from voxgate.config import default_toml
from voxgate.engines.audio import PcmAudio
from voxgate.testing.fakes import wav_bytes

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURES = json.loads((DATA / "fixtures.json").read_text())
SPOKEN = FIXTURES["files"]["en-10s.wav"]["text"]


@pytest.fixture(scope="module")
def wyoming_server(tmp_path_factory: pytest.TempPathFactory, subprocess_env) -> tuple[Server, int]:
    port = free_port()
    toml = default_toml() + f'\n[wyoming]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
    server = start_server(tmp_path_factory.mktemp("wyoming"), subprocess_env, toml, timeout=60)
    try:
        wait_ready(server, timeout=120)
        yield server, port
    finally:
        stop_server(server)


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 180))


async def exchange(port: int, events: list, last: str) -> list:
    """Send ``events``, then read until an event of type ``last`` (or an error)."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        for event in events:
            await client.write_event(event)
        received = []
        while True:
            event = await client.read_event()
            assert event is not None, "the server closed the connection"
            received.append(event)
            if event.type in (last, "error"):
                return received


def audio_events(data: bytes, rate: int, channels: int, samples_per_chunk: int = 1024) -> list:
    fmt = {"rate": rate, "width": 2, "channels": channels}
    step = samples_per_chunk * 2 * channels
    return [
        AudioStart(**fmt).event(),
        *(AudioChunk(**fmt, audio=data[i : i + step]).event() for i in range(0, len(data), step)),
        AudioStop().event(),
    ]


def spoken_clip() -> PcmAudio:
    with wave.open(str(DATA / "en-10s.wav"), "rb") as reader:
        assert (reader.getframerate(), reader.getnchannels()) == (16_000, 1)
        return PcmAudio.from_pcm16(reader.readframes(reader.getnframes()), 16_000)


def test_describe_lists_the_whisper_models_and_the_voices(wyoming_server):
    _, port = wyoming_server
    [answer] = run(exchange(port, [Describe().event()], "info"))
    info = Info.from_event(answer)
    [asr] = info.asr
    models = {model.name: model for model in asr.models}
    assert set(models) == {"whisper-base", "whisper-tiny.en"}
    assert "en" in models["whisper-base"].languages
    assert "de" in models["whisper-base"].languages
    assert models["whisper-tiny.en"].languages == ["en"]
    programs = {program.name: program for program in info.tts}
    assert set(programs) == {"piper", "kokoro"}
    piper = [voice.name for voice in programs["piper"].voices]
    assert "alloy" in piper
    assert "en_US-joe-medium" in piper
    kokoro = [voice.name for voice in programs["kokoro"].voices]
    assert "kokoro/alloy" in kokoro
    names = [voice.name for program in info.tts for voice in program.voices]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(("rate", "channels"), [(16_000, 1), (44_100, 2)])
def test_spoken_audio_transcribes(wyoming_server, rate, channels):
    _, port = wyoming_server
    clip = spoken_clip().resample(rate)
    samples = np.frombuffer(clip.to_pcm16(), dtype="<i2")
    data = np.repeat(samples, channels).tobytes()  # interleaved: the same signal per channel
    events = run(
        exchange(
            port,
            [
                Transcribe(name="whisper-1", language="en").event(),
                *audio_events(data, rate, channels),
            ],
            "transcript-stop",
        )
    )
    types = [event.type for event in events]
    assert types[0] == "transcript-start", types
    assert types[-1] == "transcript-stop", types
    assert "transcript-chunk" in types
    transcript = Transcript.from_event(next(e for e in events if e.type == "transcript"))
    assert wer(SPOKEN, transcript.text) <= 0.15, transcript.text


def _speech(events: list) -> tuple[PcmAudio, int]:
    """The audio of every audio-start … audio-stop, and how many there were."""
    starts = [AudioStart.from_event(e) for e in events if e.type == "audio-start"]
    assert starts, [e.type for e in events]
    rate = starts[0].rate
    chunks = [AudioChunk.from_event(e) for e in events if e.type == "audio-chunk"]
    assert all((c.rate, c.width, c.channels) == (rate, 2, 1) for c in chunks)
    assert max(c.samples for c in chunks) == 1024
    return PcmAudio.from_pcm16(b"".join(c.audio for c in chunks), rate), len(starts)


def _heard(server: Server, audio: PcmAudio) -> str:
    with openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="dummy", max_retries=0) as sdk:
        return sdk.audio.transcriptions.create(
            model="whisper-tiny.en", file=("speech.wav", wav_bytes(audio)), response_format="text"
        )


def test_synthesized_speech_says_the_words(wyoming_server):
    server, port = wyoming_server
    text = "The library opens early in the morning. Please bring your own card."
    events = run(
        exchange(
            port, [Synthesize(text=text, voice=SynthesizeVoice(name="alloy")).event()], "audio-stop"
        )
    )
    audio, starts = _speech(events)
    assert starts == 1
    assert audio.sample_rate == 22_050  # Piper's own rate
    assert wer(text, _heard(server, audio)) <= 0.15


def test_streamed_text_is_spoken_sentence_by_sentence(wyoming_server):
    server, port = wyoming_server
    pieces = ["The library opens ea", "rly in the morning. Please bring", " your own card."]
    events = run(
        exchange(
            port,
            [
                SynthesizeStart(voice=SynthesizeVoice(name="alloy")).event(),
                *(SynthesizeChunk(text=piece).event() for piece in pieces),
                SynthesizeStop().event(),
            ],
            "synthesize-stopped",
        )
    )
    assert events[-1].type == "synthesize-stopped"
    audio, starts = _speech(events)
    assert starts == 2  # one audio-start … audio-stop per sentence
    assert wer("".join(pieces), _heard(server, audio)) <= 0.15
