"""Function calling through /v1/chat/completions with audio output, driven by the openai SDK.

The fake upstream is scripted to call ``get_weather`` while the request offers it and no tool
result has come back, then to answer with the result. A tool-call answer is passed through as
the upstream sent it and is not spoken; text said alongside calls is spoken; the follow-up
turn with the ``tool`` message gets a spoken answer.
"""

from __future__ import annotations

import base64
import json

import httpx
import openai
import pytest
from fake_upstream import ToolCall

from voxgate.testing.fakes import FakeTtsEngine

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather now in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "The local time in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    },
]
WEATHER = ToolCall("get_weather", {"city": "Paris"})
TIME = ToolCall("get_time", {"city": "Paris"})
AUDIO = {"modalities": ["text", "audio"], "audio": {"voice": "tone", "format": "wav"}}
QUESTION = {"role": "user", "content": "What is the weather in Paris?"}
ANSWER = "It is {tool_result} in Paris right now."


@pytest.fixture
def sdk(conversation_server):
    with openai.OpenAI(
        api_key="dummy", base_url=f"http://{conversation_server}/v1", max_retries=0
    ) as client:
        yield client


@pytest.fixture
def http(conversation_server):
    with httpx.Client(base_url=f"http://{conversation_server}/v1", timeout=30) as client:
        yield client


@pytest.fixture
def weather(fake_upstream):
    fake_upstream.tool_calls = [WEATHER]
    fake_upstream.reply = ANSWER
    return fake_upstream


def nothing_spoken() -> bool:
    """The TTS engine was never asked to synthesize (it counts words and closed runs)."""
    return FakeTtsEngine.steps == 0 and FakeTtsEngine.closed == 0


def sse(response: httpx.Response) -> list[dict]:
    """A chat stream's chunks, checked to end with ``[DONE]``."""
    frames = [f.removeprefix("data: ") for f in response.text.split("\n\n") if f]
    assert frames[-1] == "[DONE]"
    return [json.loads(frame) for frame in frames[:-1]]


def deltas(chunks: list[dict], key: str) -> list:
    return [c["choices"][0]["delta"][key] for c in chunks if key in _delta(c)]


def _delta(chunk: dict) -> dict:
    return chunk["choices"][0]["delta"] if chunk["choices"] else {}


# -- one answer ---------------------------------------------------------------------------------


def test_a_tool_call_answer_passes_through_unspoken(sdk, weather):
    reply = sdk.chat.completions.create(
        model="gpt-4o-audio-preview",
        messages=[QUESTION],
        tools=TOOLS,
        tool_choice="auto",
        parallel_tool_calls=False,
        **AUDIO,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.audio is None
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.id == "call_0_0"
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert nothing_spoken()
    sent = weather.last
    assert sent["tools"] == TOOLS
    assert sent["tool_choice"] == "auto"
    assert sent["parallel_tool_calls"] is False
    assert "modalities" not in sent
    assert "audio" not in sent


def test_text_said_with_tool_calls_is_spoken_and_the_calls_pass(sdk, weather):
    weather.tool_call_text = "Let me check the weather."
    reply = sdk.chat.completions.create(model="m", messages=[QUESTION], tools=TOOLS, **AUDIO)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None, "as every spoken reply: the text is the transcript"
    assert choice.message.audio.transcript == "Let me check the weather."
    assert len(base64.b64decode(choice.message.audio.data)) > 44
    assert [c.function.name for c in choice.message.tool_calls] == ["get_weather"]
    assert FakeTtsEngine.steps == 5, "one tone per word"


def test_tool_choice_reaches_the_upstream_as_sent(sdk, weather):
    weather.tool_calls = [WEATHER, TIME]
    forced = {"type": "function", "function": {"name": "get_time"}}
    reply = sdk.chat.completions.create(
        model="m", messages=[QUESTION], tools=TOOLS, tool_choice=forced, **AUDIO
    )
    assert weather.last["tool_choice"] == forced
    assert [c.function.name for c in reply.choices[0].message.tool_calls] == ["get_time"]
    text = sdk.chat.completions.create(
        model="m", messages=[QUESTION], tools=TOOLS, tool_choice="none", **AUDIO
    )
    assert weather.last["tool_choice"] == "none"
    assert text.choices[0].message.tool_calls is None
    assert text.choices[0].message.audio.transcript == "It is  in Paris right now."


# -- streamed -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fragment", [8, None], ids=["fragments", "whole-calls"])
def test_streamed_tool_calls_pass_through_and_nothing_is_spoken(http, weather, fragment):
    weather.tool_calls = [WEATHER, TIME]
    weather.arguments_chunk = fragment
    body = {
        "model": "m",
        "messages": [QUESTION],
        "tools": TOOLS,
        "stream": True,
        "stream_options": {"include_usage": True},
        **AUDIO,
    }
    chunks = sse(http.post("/chat/completions", json=body))
    voxgate_calls = deltas(chunks, "tool_calls")
    assert nothing_spoken()
    assert not deltas(chunks, "audio"), "no audio at all, not even the closing id"
    assert not deltas(chunks, "content")
    # exactly the upstream's tool call deltas, in its order
    upstream = weather.call_deltas([WEATHER, TIME], 0)
    assert voxgate_calls == [[d] for d in upstream]
    assert voxgate_calls[0] == [
        {
            "index": 0,
            "id": "call_0_0",
            "type": "function",
            "function": {
                "name": "get_weather",
                "arguments": "" if fragment else '{"city": "Paris"}',
            },
        }
    ]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert [f for f in finishes if f] == ["tool_calls"]
    assert finishes[-1] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] > 0


@pytest.mark.parametrize("fragment", [8, None], ids=["fragments", "whole-calls"])
@pytest.mark.parametrize("output", [AUDIO, {}], ids=["audio", "text"])
def test_the_sdk_stream_helper_accumulates_parallel_calls_of_n_choices(
    sdk, weather, fragment, output
):
    weather.tool_calls = [WEATHER, TIME]
    weather.arguments_chunk = fragment
    with sdk.chat.completions.stream(
        model="m", messages=[QUESTION], tools=TOOLS, n=2, **output
    ) as stream:
        events = list(stream)
        final = stream.get_final_completion()
    assert nothing_spoken()
    done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert sorted((e.name, e.index) for e in done) == [
        ("get_time", 1), ("get_time", 1), ("get_weather", 0), ("get_weather", 0)
    ]  # fmt: skip
    assert len(final.choices) == 2
    for index, choice in enumerate(final.choices):
        assert choice.finish_reason == "tool_calls"
        assert choice.message.audio is None
        calls = choice.message.tool_calls
        assert [c.id for c in calls] == [f"call_{index}_0", f"call_{index}_1"]
        assert [c.function.name for c in calls] == ["get_weather", "get_time"]
        assert [json.loads(c.function.arguments) for c in calls] == [{"city": "Paris"}] * 2


def test_streamed_text_with_tool_calls_is_spoken_then_closed(http, weather):
    weather.tool_call_text = "Let me check the weather."
    body = {"model": "m", "messages": [QUESTION], "tools": TOOLS, "stream": True, **AUDIO}
    chunks = sse(http.post("/chat/completions", json=body))
    audio = deltas(chunks, "audio")
    assert "".join(a.get("transcript", "") for a in audio) == "Let me check the weather."
    pcm = b"".join(base64.b64decode(a["data"]) for a in audio if "data" in a)
    assert len(pcm) == 5 * 2 * 2_400, "five words of 0.1 s, 24 kHz pcm16"
    assert set(audio[-1]) == {"id", "expires_at"}
    assert len({a["id"] for a in audio}) == 1
    calls = [d for (d,) in deltas(chunks, "tool_calls")]
    assert calls == weather.call_deltas([WEATHER], 0)
    kinds = [next(iter(_delta(c)), "finish") for c in chunks if c["choices"]]
    closing = len(kinds) - 1 - kinds[::-1].index("audio")
    assert kinds[-1] == "finish"
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert kinds.index("tool_calls") < closing, "calls are relayed as they come, not held"


def test_whitespace_before_tool_calls_is_not_spoken(sdk, http, weather):
    weather.tool_call_text = "\n\n"  # as some models write before their calls
    body = {"model": "m", "messages": [QUESTION], "tools": TOOLS, "stream": True, **AUDIO}
    chunks = sse(http.post("/chat/completions", json=body))
    assert not deltas(chunks, "audio")
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    reply = sdk.chat.completions.create(model="m", messages=[QUESTION], tools=TOOLS, **AUDIO)
    assert reply.choices[0].message.audio is None
    assert reply.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert nothing_spoken()


def test_leading_whitespace_is_kept_in_the_transcript(http, weather):
    weather.tool_call_text = "\n Let me check."  # streamed as "\n", " Let", " me", " check."
    body = {"model": "m", "messages": [QUESTION], "tools": TOOLS, "stream": True, **AUDIO}
    chunks = sse(http.post("/chat/completions", json=body))
    transcripts = [a["transcript"] for a in deltas(chunks, "audio") if "transcript" in a]
    assert transcripts == ["\n Let", " me", " check."]
    assert FakeTtsEngine.steps == 3


# -- the follow-up turn -------------------------------------------------------------------------


def test_the_tool_result_turn_gets_a_spoken_answer(sdk, weather):
    messages: list = [QUESTION]
    first = sdk.chat.completions.create(model="m", messages=messages, tools=TOOLS, **AUDIO)
    call = first.choices[0].message.tool_calls[0]
    messages += [
        first.choices[0].message,  # as the SDK's own examples append it
        {"role": "tool", "tool_call_id": call.id, "content": "18 °C and sunny"},
    ]
    second = sdk.chat.completions.create(model="m", messages=messages, tools=TOOLS, **AUDIO)
    assert weather.requests[1]["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": [
                {
                    "id": "call_0_0",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_0_0", "content": "18 °C and sunny"},
    ]
    choice = second.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.tool_calls is None
    assert choice.message.audio.transcript == "It is 18 °C and sunny in Paris right now."
    assert FakeTtsEngine.steps == len(choice.message.audio.transcript.split())


@pytest.mark.parametrize("history", ["sdk-message", "audio-id"])
def test_a_spoken_tool_call_turn_resolves_to_its_transcript_and_calls(sdk, weather, history):
    weather.tool_call_text = "Let me check."
    first = sdk.chat.completions.create(model="m", messages=[QUESTION], tools=TOOLS, **AUDIO)
    message = first.choices[0].message
    calls = [call.model_dump() for call in message.tool_calls]
    said: object = message  # the SDK's message as it is: with `audio` {id, data, …}
    if history == "audio-id":
        said = {"role": "assistant", "audio": {"id": message.audio.id}, "tool_calls": calls}
    messages = [QUESTION, said, {"role": "tool", "tool_call_id": "call_0_0", "content": "sunny"}]
    with sdk.chat.completions.stream(model="m", messages=messages, tools=TOOLS, **AUDIO) as stream:
        final = stream.get_final_completion()
    forwarded = weather.last["messages"][1]
    assert "audio" not in forwarded
    assert forwarded["content"] == "Let me check."
    assert forwarded["tool_calls"] == calls
    choice = final.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.tool_calls is None
    assert choice.message.audio.transcript == "It is sunny in Paris right now."


def test_the_stream_helpers_message_goes_back_as_it_is(sdk, weather):
    with sdk.chat.completions.stream(
        model="m", messages=[QUESTION], tools=TOOLS, **AUDIO
    ) as stream:
        message = stream.get_final_completion().choices[0].message
    assert message.audio is None  # and sent back as `"audio": null`
    call = message.tool_calls[0]
    tool = {"role": "tool", "tool_call_id": call.id, "content": "sunny"}
    reply = sdk.chat.completions.create(
        model="m", messages=[QUESTION, message, tool], tools=TOOLS, **AUDIO
    )
    forwarded = weather.last["messages"][1]
    assert "audio" not in forwarded
    assert forwarded["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'
    assert reply.choices[0].message.audio.transcript == "It is sunny in Paris right now."


def test_an_expired_audio_id_beside_tool_calls_is_dropped(sdk, weather):
    calls = [WEATHER.wire(0, 0)]
    history = [
        QUESTION,
        {"role": "assistant", "audio": {"id": "audio_gone"}, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_0_0", "content": "sunny"},
    ]
    reply = sdk.chat.completions.create(model="m", messages=history, tools=TOOLS, **AUDIO)
    assert weather.last["messages"][1] == {"role": "assistant", "tool_calls": calls}
    assert reply.choices[0].message.audio.transcript == "It is sunny in Paris right now."
