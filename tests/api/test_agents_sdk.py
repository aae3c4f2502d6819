"""The OpenAI Agents SDK (``openai-agents``) against voxgate, as a voice-agent author runs it.

Nothing is configured for voxgate but the base URL: ``VoicePipeline`` uses the library's
default models (``gpt-transcribe``, ``gpt-4o-mini-tts``), routed by the ``[models]``
patterns; ``RealtimeAgent`` connects to ``/v1/realtime`` with one function tool that the
fake upstream LLM calls, and answers from the tool's result. Engines are the fakes (the STT
hears ``HEARD``, the TTS says each word as 0.1 s of tone); the LLM is the fake upstream.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from agents import Agent, OpenAIChatCompletionsModel, function_tool, set_tracing_disabled
from agents.realtime import RealtimeAgent, RealtimeRunner
from agents.voice import (
    AudioInput,
    SingleAgentVoiceWorkflow,
    StreamedAudioInput,
    VoicePipeline,
    VoicePipelineConfig,
)
from agents.voice.models.openai_model_provider import OpenAIVoiceModelProvider
from clips import speech_24k
from fake_upstream import ToolCall
from openai import AsyncOpenAI
from servers import served

import voxgate_openai_upstream
import voxgate_pyav
from tests.api.conftest import HEARD, conversation_toml
from voxgate.testing import build_test_app

OPENAI_VOICES = "alloy ash ballad coral echo fable onyx nova sage shimmer verse marin cedar"
SPEECH = np.frombuffer(speech_24k(), dtype=np.int16)


def agents_toml(upstream_url: str) -> str:
    """The conversation app, with the default config's patterns and the OpenAI voices."""
    voices = "\n".join(f'{name} = "tone"' for name in OPENAI_VOICES.split())
    patterns = """"gpt-*transcribe*" = "fake-stt"
"gpt-*-tts*" = "tone"
"gpt-realtime*" = { chat = "upstream" }
"""
    # conversation_toml ends in its [models] table: the patterns join it
    return f"{conversation_toml(upstream_url)}{patterns}\n[voices.tone]\n{voices}\n"


@pytest.fixture(autouse=True)
def _no_tracing():
    """The SDK would export traces to api.openai.com; tests never leave the machine."""
    set_tracing_disabled(True)


@pytest.fixture
def server(plugins, fake_upstream, monkeypatch):
    for name in ("CHAT_COMPLETION_BASE_URL", "CHAT_COMPLETION_MODEL", "CHAT_COMPLETION_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    app = build_test_app(
        agents_toml(fake_upstream.url), [*plugins, voxgate_pyav, voxgate_openai_upstream]
    )
    with served(app) as address:
        yield address


@pytest.fixture
async def pipeline(server, fake_upstream):
    """A voice agent whose LLM is the fake upstream and whose speech models are voxgate's."""
    llm = AsyncOpenAI(api_key="dummy", base_url=fake_upstream.url, max_retries=0)
    speech = AsyncOpenAI(api_key="dummy", base_url=f"http://{server}/v1", max_retries=0)
    agent = Agent(
        name="Assistant",
        instructions="Answer briefly.",
        model=OpenAIChatCompletionsModel(model="fake-llm", openai_client=llm),
    )
    provider = OpenAIVoiceModelProvider(openai_client=speech)
    config = VoicePipelineConfig(model_provider=provider, tracing_disabled=True)
    yield VoicePipeline(workflow=SingleAgentVoiceWorkflow(agent), config=config)
    await llm.close()  # closed in this loop, not by the garbage collector in a later test's
    await speech.close()


async def spoken(result) -> tuple[np.ndarray, list[str]]:
    """The pipeline's audio and its lifecycle events, to the end of the session."""
    audio, lifecycle = [], []
    async for event in result.stream():
        if event.type == "voice_stream_event_audio" and event.data is not None:
            audio.append(event.data)
        elif event.type == "voice_stream_event_lifecycle":
            lifecycle.append(event.event)
        elif event.type == "voice_stream_event_error":
            raise AssertionError(f"pipeline error: {event.error}")
    return (np.concatenate(audio) if audio else np.zeros(0, np.int16)), lifecycle


def tone_seconds(reply: str) -> float:
    """How long the fake TTS speaks ``reply``: 0.1 s a word."""
    return 0.1 * len(reply.split())


async def test_voice_pipeline_with_the_default_models(pipeline, fake_upstream):
    fake_upstream.reply = "You said: {said}"
    result = await pipeline.run(AudioInput(buffer=SPEECH))
    audio, lifecycle = await asyncio.wait_for(spoken(result), 60)
    assert fake_upstream.user_texts() == [HEARD], "gpt-transcribe transcribed the WAV"
    reply = f"You said: {HEARD}"
    assert len(audio) / 24_000 == pytest.approx(tone_seconds(reply), abs=0.05), (
        "gpt-4o-mini-tts spoke the whole reply"
    )
    assert lifecycle[-1] == "session_ended"


async def test_voice_pipeline_with_streamed_audio_input(pipeline, fake_upstream):
    fake_upstream.reply = "Noted."
    streamed = StreamedAudioInput()
    result = await pipeline.run(streamed)
    collect = asyncio.create_task(spoken(result))
    for start in range(0, len(SPEECH), 2_400):  # 100 ms chunks, as a microphone sends them
        await streamed.add_audio(SPEECH[start : start + 2_400])
        await asyncio.sleep(0.01)
    silence = np.zeros(2_400, dtype=np.int16)
    deadline = asyncio.get_running_loop().time() + 30
    while not fake_upstream.requests and asyncio.get_running_loop().time() < deadline:
        await streamed.add_audio(silence)  # semantic VAD ends the turn after a quiet while
        await asyncio.sleep(0.05)
    assert fake_upstream.requests, "the streamed turn reached the LLM"
    assert fake_upstream.user_texts() == [HEARD]
    await streamed.add_audio(None)  # the end of the stream
    audio, lifecycle = await asyncio.wait_for(collect, 60)
    turns = lifecycle.count("turn_ended")
    assert turns >= 1
    assert len(fake_upstream.requests) == turns, "each turn the VAD ended was answered"
    assert len(audio) / 24_000 == pytest.approx(turns * tone_seconds("Noted."), abs=0.05)


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny and 24 degrees in {city}"


async def test_realtime_agent_calls_a_tool_and_answers_from_its_result(server, fake_upstream):
    fake_upstream.tool_calls = [ToolCall("get_weather", {"city": "Paris"})]
    fake_upstream.reply = "It is {tool_result}."
    agent = RealtimeAgent(
        name="Assistant", instructions="Use get_weather for weather.", tools=[get_weather]
    )
    runner = RealtimeRunner(starting_agent=agent)
    session = await runner.run(
        model_config={"url": f"ws://{server}/v1/realtime?model=gpt-realtime", "api_key": "dummy"}
    )
    tool_results, transcripts, errors = [], [], []
    async with session:
        await session.send_message("What is the weather in Paris?")
        async with asyncio.timeout(30):
            async for event in session:
                if event.type == "tool_end":
                    tool_results.append(event.output)
                elif event.type == "error":
                    errors.append(event.error)
                elif event.type == "history_updated":
                    transcripts = [
                        part.transcript
                        for item in event.history
                        if getattr(item, "role", None) == "assistant"
                        for part in item.content
                        if getattr(part, "transcript", None)
                    ]
                    if any("sunny" in text for text in transcripts):
                        break
    assert errors == []
    assert tool_results == ["sunny and 24 degrees in Paris"]
    assert transcripts[-1] == "It is sunny and 24 degrees in Paris."
    tool_message = fake_upstream.last["messages"][-1]
    assert tool_message["role"] == "tool"
    assert tool_message["content"] == "sunny and 24 degrees in Paris"
