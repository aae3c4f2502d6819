"""The built-in ``wyoming`` plugin in-process: fake engines, the ``wyoming`` package's own client.

The app runs its lifespan (Litestar's test client), which starts the Wyoming server on a free
loopback port; ``wyoming.client.AsyncTcpClient`` drives it as Home Assistant does.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import threading

import numpy as np
import pytest
from litestar.testing import AsyncTestClient
from servers import free_port
from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

import voxgate
import voxgate_wyoming
from tests.conftest import FAKE_TOML
from voxgate import PcmAudio
from voxgate.config import ConfigError
from voxgate.testing import build_test_app, fakes
from voxgate.testing.app import TEST_BASE_URL, build_test_config
from voxgate_wyoming.settings import WyomingSettings

PLUGINS = [fakes, voxgate_wyoming]
VOICES = '\n[voices.tone]\nalloy = "low"\n'


def toml(port: int, extra: str = "") -> str:
    return (
        FAKE_TOML
        + VOICES
        + f'\n[wyoming]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n{extra}'
    )


@contextlib.asynccontextmanager
async def wyoming(extra_toml: str = "", settings: str = ""):
    """A running app with the Wyoming server; yields a connected client factory's URI port."""
    port = free_port()
    app = build_test_app(toml(port, settings) + extra_toml, PLUGINS)
    async with AsyncTestClient(app=app, base_url=TEST_BASE_URL):
        yield port


@contextlib.asynccontextmanager
async def connect(port: int):
    async with AsyncTcpClient("127.0.0.1", port) as client:
        yield client


async def read(client: AsyncTcpClient, timeout: float = 10):
    event = await asyncio.wait_for(client.read_event(), timeout)
    assert event is not None, "the server closed the connection"
    return event


async def read_until(client: AsyncTcpClient, last: str) -> list:
    events = []
    while True:
        event = await read(client)
        events.append(event)
        if event.type in (last, "error"):
            return events


def pcm16(seconds: float, rate: int = 16_000) -> bytes:
    return fakes.tone(seconds, rate).to_pcm16()


async def send_audio(client, data: bytes, rate: int, width: int, channels: int, *, chunk=4096):
    await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
    for begin in range(0, len(data), chunk):
        await client.write_event(
            AudioChunk(
                rate=rate, width=width, channels=channels, audio=data[begin : begin + chunk]
            ).event()
        )
    await client.write_event(AudioStop().event())


# -- config ------------------------------------------------------------------------------------


def test_the_table_defaults_to_off_on_port_10300():
    config, _ = build_test_config(FAKE_TOML, PLUGINS)
    settings = config.settings["wyoming"]
    assert settings == WyomingSettings()
    assert (settings.enabled, settings.port, settings.zeroconf, settings.host) == (
        False,
        10300,
        False,
        None,
    )


def test_disabled_adds_no_listener():
    app = build_test_app(FAKE_TOML, PLUGINS)
    assert "wyoming" not in app.state


@pytest.mark.parametrize(
    ("table", "path"),
    [
        ("port = 70000", "wyoming.port"),
        ("enabled = 'yes'", "wyoming.enabled"),
        ("colour = 'red'", "wyoming.colour"),
        ("enabled = true\nport = 8000", "wyoming.port"),  # the HTTP port
    ],
)
def test_bad_tables_are_config_problems(table, path):
    with pytest.raises(ConfigError) as info:
        build_test_config(FAKE_TOML + f"\n[wyoming]\n{table}\n", PLUGINS)
    assert path in {p.path for p in info.value.problems}


def test_zeroconf_without_the_package_is_a_config_problem(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "zeroconf" else real(name, *a)
    )
    with pytest.raises(ConfigError) as info:
        build_test_config(
            FAKE_TOML + "\n[wyoming]\nenabled = true\nport = 10301\nzeroconf = true\n", PLUGINS
        )
    problem = next(p for p in info.value.problems if p.path == "wyoming.zeroconf")
    assert "zeroconf" in problem.message


# -- describe ----------------------------------------------------------------------------------


async def test_describe_lists_stt_models_and_tts_voices():
    async with wyoming() as port, connect(port) as client:
        await client.write_event(Describe().event())
        info = Info.from_event(await read(client))
    [asr] = info.asr
    assert [model.name for model in asr.models] == ["fake-stt"]
    assert "en" in asr.models[0].languages
    assert "de" in asr.models[0].languages
    assert asr.supports_transcript_streaming
    [tts] = info.tts
    assert tts.name == "tone"
    assert tts.supports_synthesize_streaming
    names = [voice.name for voice in tts.voices]
    assert names == ["alloy", "tone", "low"]  # mapped names, then the engine voices
    assert all(voice.languages == ["en"] for voice in tts.voices)
    assert asr.version == tts.version == voxgate.__version__


async def test_describe_reports_the_languages_a_model_knows():
    narrowed = FAKE_TOML.replace('kind = "fake-stt"', 'kind = "fake-stt"\nlanguages = ["en", "fr"]')
    port = free_port()
    app = build_test_app(
        narrowed + VOICES + f"\n[wyoming]\nenabled = true\nport = {port}\n", PLUGINS
    )
    async with AsyncTestClient(app=app, base_url=TEST_BASE_URL), connect(port) as client:
        await client.write_event(Describe().event())
        info = Info.from_event(await read(client))
    assert info.asr[0].models[0].languages == ["en", "fr"]


async def test_non_default_instances_prefix_their_voice_names():
    second = (
        '\n[tts.second]\nkind = "fake-tts"\nvoices = ["bright"]\n[voices.second]\nnova = "bright"\n'
    )
    async with wyoming(second) as port, connect(port) as client:
        await client.write_event(Describe().event())
        info = Info.from_event(await read(client))
        assert [p.name for p in info.tts] == ["tone", "second"]
        assert [v.name for v in info.tts[1].voices] == ["second/nova", "second/bright"]
        await client.write_event(
            Synthesize(text="Hi.", voice=SynthesizeVoice(name="second/nova")).event()
        )
        events = await read_until(client, "audio-stop")
        assert events[0].type == "audio-start"


# -- speech to text ----------------------------------------------------------------------------


async def test_transcribe_streams_a_transcript():
    async with wyoming() as port, connect(port) as client:
        await client.write_event(Transcribe(name="whisper-1", language="en").event())
        await send_audio(client, pcm16(2.0), 16_000, 2, 1)
        events = await read_until(client, "transcript-stop")
    types = [event.type for event in events]
    assert types == [
        "transcript-start",
        "transcript-chunk",
        "transcript-chunk",
        "transcript",
        "transcript-stop",
    ]
    chunks = [TranscriptChunk.from_event(e).text for e in events if TranscriptChunk.is_type(e.type)]
    transcript = Transcript.from_event(events[3])
    assert (
        transcript.text
        == "".join(chunks)
        == "Hello from the fake engine. Hello from the fake engine."
    )
    assert transcript.language == "en"
    assert TranscriptStart.from_event(events[0]).language == "en"
    assert fakes.FakeSttEngine.last_options.language == "en"


async def test_no_transcribe_event_uses_the_default_model_and_any_format():
    stereo = np.repeat(np.frombuffer(pcm16(1.5, 44_100), dtype="<i2"), 2).tobytes()
    async with wyoming() as port, connect(port) as client:
        await send_audio(client, stereo, 44_100, 2, 2)
        events = await read_until(client, "transcript-stop")
        assert Transcript.from_event(events[-2]).text == "Hello from the fake engine."
        # the same connection serves the next request
        await client.write_event(Transcribe(name="Systran/faster-whisper-tiny.en").event())
        await send_audio(client, pcm16(1.0, 8_000)[::2], 8_000, 1, 1)  # 8-bit: any bytes will do
        events = await read_until(client, "transcript-stop")
    assert events[-1].type == "transcript-stop"


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_every_sample_width_converts_to_the_same_signal(width):
    signal = np.array([0.0, 0.5, -0.5, 0.25], dtype=np.float32)
    ints = np.round(signal * (2 ** (8 * width - 1) - 1)).astype(np.int64)
    if width == 1:
        data = (ints + 128).astype(np.uint8).tobytes()
    else:
        data = b"".join(int(v).to_bytes(width, "little", signed=True) for v in ints)
    stereo = b"".join(data[i * width : (i + 1) * width] * 2 for i in range(len(signal)))
    decoded = PcmAudio.from_pcm(stereo, 16_000, 2, width=width).samples
    assert np.allclose(decoded, signal, atol=1 / 100)


async def test_unknown_model_and_language_are_error_events_and_the_connection_lives_on():
    async with wyoming() as port, connect(port) as client:
        await client.write_event(Transcribe(name="no-such-model").event())
        error = Error.from_event(await read(client))
        assert error.code == "unknown_model"
        assert "no-such-model" in error.text
        await client.write_event(Transcribe(language="klingon").event())
        await send_audio(client, pcm16(1.0), 16_000, 2, 1)
        error = Error.from_event(await read(client))
        assert error.code == "unknown_language"
        await client.write_event(Describe().event())
        assert (await read(client)).type == "info"


async def test_a_language_the_model_does_not_know_is_an_error():
    narrowed = FAKE_TOML.replace('kind = "fake-stt"', 'kind = "fake-stt"\nlanguages = ["en"]')
    port = free_port()
    app = build_test_app(narrowed + f"\n[wyoming]\nenabled = true\nport = {port}\n", PLUGINS)
    async with AsyncTestClient(app=app, base_url=TEST_BASE_URL), connect(port) as client:
        await client.write_event(Transcribe(language="de").event())
        await send_audio(client, pcm16(1.0), 16_000, 2, 1)
        error = Error.from_event(await read(client))
    assert error.code == "unknown_language"


async def test_audio_over_the_upload_limit_is_an_error_once():
    port = free_port()
    limited = (
        FAKE_TOML
        + f"\n[server]\nmax_upload_bytes = 64000\n[wyoming]\nenabled = true\nport = {port}\n"
    )
    app = build_test_app(limited, PLUGINS)
    async with AsyncTestClient(app=app, base_url=TEST_BASE_URL), connect(port) as client:
        await send_audio(client, pcm16(3.0), 16_000, 2, 1)  # 96,000 bytes
        error = Error.from_event(await read(client))
        assert error.code == "audio_too_long"
        await send_audio(client, pcm16(1.0), 16_000, 2, 1)  # 32,000 bytes: fine
        events = await read_until(client, "transcript-stop")
    assert events[-1].type == "transcript-stop"


@pytest.mark.parametrize(
    "event",
    [
        AudioChunk(rate=16000, width=2, channels=1, audio=b"\0\0").event(),
        AudioStop().event(),
        SynthesizeChunk(text="Hi.").event(),
        SynthesizeStop().event(),
    ],
    ids=["chunk", "stop", "synthesize-chunk", "synthesize-stop"],
)
async def test_events_out_of_order_are_errors(event):
    async with wyoming() as port, connect(port) as client:
        await client.write_event(event)
        error = Error.from_event(await read(client))
        assert error.code == "bad_event_order"
        await client.write_event(Describe().event())
        assert (await read(client)).type == "info"


# -- text to speech ----------------------------------------------------------------------------


def _audio(events) -> tuple[int, bytes]:
    start = AudioStart.from_event(next(e for e in events if e.type == "audio-start"))
    chunks = [AudioChunk.from_event(e) for e in events if e.type == "audio-chunk"]
    assert all((c.rate, c.width, c.channels) == (start.rate, 2, 1) for c in chunks)
    assert all(c.samples <= 1024 for c in chunks)
    return start.rate, b"".join(c.audio for c in chunks)


async def test_synthesize_with_a_mapped_voice():
    async with wyoming() as port, connect(port) as client:
        await client.write_event(
            Synthesize(
                text="One two three. Four five.", voice=SynthesizeVoice(name="alloy")
            ).event()
        )
        events = await read_until(client, "audio-stop")
    rate, data = _audio(events)
    assert rate == 24_000
    seconds = len(data) / 2 / rate
    assert seconds == pytest.approx(0.5, abs=0.01)  # five words, 0.1 s each
    samples = np.frombuffer(data, dtype="<i2").astype(np.float32)
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()] == pytest.approx(
        220, abs=5
    )  # "low"


async def test_no_voice_speaks_with_the_instance_default_and_language_picks_one():
    async with wyoming() as port, connect(port) as client:
        await client.write_event(Synthesize(text="Hello there.").event())
        assert next(e.type for e in await read_until(client, "audio-stop")) == "audio-start"
        await client.write_event(
            Synthesize(text="Hello.", voice=SynthesizeVoice(language="en-US")).event()
        )
        assert (await read_until(client, "audio-stop"))[-1].type == "audio-stop"
        await client.write_event(
            Synthesize(text="Hello.", voice=SynthesizeVoice(language="fi")).event()
        )
        error = Error.from_event(await read(client))
        assert error.code == "unknown_language"


async def test_an_instance_name_with_a_speaker_selects_that_voice():
    async with wyoming() as port, connect(port) as client:
        await client.write_event(
            Synthesize(text="Hi.", voice=SynthesizeVoice(name="tts-1", speaker="low")).event()
        )
        assert (await read_until(client, "audio-stop"))[-1].type == "audio-stop"


async def test_unknown_voice_is_an_error_event_and_the_connection_lives_on():
    async with wyoming() as port, connect(port) as client:
        await client.write_event(
            Synthesize(text="Hello.", voice=SynthesizeVoice(name="nobody")).event()
        )
        error = Error.from_event(await read(client))
        assert error.code == "unknown_voice"
        assert "nobody" in error.text
        await client.write_event(
            Synthesize(text="Hello.", voice=SynthesizeVoice(name="tone")).event()
        )
        assert (await read_until(client, "audio-stop"))[-1].type == "audio-stop"


async def test_a_catch_all_models_pattern_never_turns_a_voice_name_into_an_instance():
    """With ``"*" = "tone"``, every id speaks, but ``alloy`` and ``nobody`` are still voices."""
    port = free_port()
    catch_all = toml(port).replace("[models]\n", '[models]\n"*" = "tone"\n', 1)
    app = build_test_app(catch_all, PLUGINS)
    async with AsyncTestClient(app=app, base_url=TEST_BASE_URL), connect(port) as client:
        await client.write_event(
            Synthesize(text="Hello.", voice=SynthesizeVoice(name="nobody")).event()
        )
        assert Error.from_event(await read(client)).code == "unknown_voice"
        await client.write_event(
            Synthesize(text="Hi.", voice=SynthesizeVoice(name="tts-1", speaker="low")).event()
        )
        assert (await read_until(client, "audio-stop"))[-1].type == "audio-stop"


async def test_streaming_synthesis_speaks_each_sentence_as_it_completes():
    async with wyoming() as port, connect(port) as client:
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="alloy")).event())
        await client.write_event(SynthesizeChunk(text="One two. Three").event())
        # "One two." is complete once the next sentence begins: it is spoken before stop
        events = await read_until(client, "audio-stop")
        assert len(_audio(events)[1]) == 2 * 24_000 * 2 // 10
        await client.write_event(SynthesizeChunk(text=" four five six.").event())
        await client.write_event(
            Synthesize(text="One two. Three four five six.").event()
        )  # ignored
        await client.write_event(SynthesizeStop().event())
        events = await read_until(client, "synthesize-stopped")
    assert next(e.type for e in events) == "audio-start"
    assert events[-2].type == "audio-stop"
    assert SynthesizeStopped.is_type(events[-1].type)
    assert len(_audio(events[:-1])[1]) == 4 * 24_000 * 2 // 10


async def test_streaming_synthesis_with_an_unknown_voice_errors_once():
    async with wyoming() as port, connect(port) as client:
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="nobody")).event())
        await client.write_event(SynthesizeChunk(text="One. Two. Three.").event())
        await client.write_event(SynthesizeStop().event())
        error = Error.from_event(await read(client))
        assert error.code == "unknown_voice"
        assert (await read(client)).type == "synthesize-stopped"


async def test_shutdown_closes_connections_busy_with_an_engine():
    gated = FAKE_TOML.replace('kind = "fake-stt"', 'kind = "fake-stt"\ngate = "held"')
    fakes.GATES["held"] = threading.Event()
    port = free_port()
    app = build_test_app(gated + f"\n[wyoming]\nenabled = true\nport = {port}\n", PLUGINS)
    async with AsyncTestClient(app=app, base_url=TEST_BASE_URL):
        client = AsyncTcpClient("127.0.0.1", port)
        await client.connect()
        await send_audio(client, pcm16(1.0), 16_000, 2, 1)
        await asyncio.sleep(0.2)  # the engine now waits at its gate, the connection with it
        # the worker thread may go on once the app is shutting down
        threading.Timer(0.5, fakes.GATES["held"].set).start()
    events = []
    while (event := await asyncio.wait_for(client.read_event(), 10)) is not None:
        events.append(event.type)
    await client.disconnect()
    assert "transcript" not in events  # cancelled with the server, not answered
