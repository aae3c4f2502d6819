"""Function calling over the Realtime API, driven by the official ``openai`` SDK.

The fake upstream LLM calls the scripted tool when the request offers tools and no tool result
followed the last user message, then answers with the result (``{tool_result}``), so each step
of OpenAI's flow is visible: the call as output items and argument deltas, the client's
``function_call_output``, and the spoken answer that reads it.
"""

from __future__ import annotations

import json
import time

import openai
import pytest
from fake_upstream import ToolCall
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

pytestmark = pytest.mark.filterwarnings(
    r"ignore:connect\(\) must be used as a context manager:DeprecationWarning"
)

EVENTS = TypeAdapter(RealtimeServerEvent)
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
def sdk(conversation_server):
    with openai.OpenAI(
        api_key="dummy",
        base_url=f"http://{conversation_server}/v1",
        websocket_base_url=f"ws://{conversation_server}/v1",
        max_retries=0,
    ) as client:
        yield client


def until(connection, last: str, timeout: float = 20) -> list:
    """Events through the first of type ``last``, each validated by the SDK's union."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = connection.recv()
        EVENTS.validate_python(event.model_dump(exclude_unset=True))
        seen.append(event)
        if event.type == last:
            return seen
    pytest.fail(f"no {last} in {[e.type for e in seen]}")


def start(connection, **session) -> None:
    assert connection.recv().type == "session.created"
    connection.session.update(
        session={
            "type": "realtime",
            "instructions": "Use your tools.",
            "audio": {"output": {"voice": "tone"}, "input": {"turn_detection": None}},
            **session,
        }
    )
    assert connection.recv().type == "session.updated"


def say(connection, text: str) -> None:
    connection.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    )
    until(connection, "conversation.item.done")


def test_a_tool_call_then_its_output_then_a_spoken_answer(sdk, fake_upstream):
    fake_upstream.tool_calls = [ToolCall("get_weather", {"city": "Paris"}, id="call_w1")]
    fake_upstream.reply = "It is {tool_result} in Paris."
    with sdk.realtime.connect(model="gpt-realtime") as connection:
        start(connection, tools=[WEATHER], tool_choice="auto")
        say(connection, "What is the weather in Paris?")
        connection.response.create()
        events = until(connection, "response.done")
        types = [e.type for e in events]
        assert "response.output_audio.delta" not in types, "nothing is spoken for a call"
        assert "response.content_part.added" not in types
        (added,) = [e for e in events if e.type == "response.output_item.added"]
        assert added.item.type == "function_call"
        assert added.item.name == "get_weather"
        assert added.item.call_id == "call_w1"
        deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
        assert len(deltas) > 1, "the arguments stream as the LLM writes them"
        (done,) = [e for e in events if e.type == "response.function_call_arguments.done"]
        assert json.loads(done.arguments) == {"city": "Paris"} == json.loads("".join(deltas))
        assert (done.call_id, done.name) == ("call_w1", "get_weather")
        assert types.index("response.function_call_arguments.done") < types.index(
            "response.output_item.done"
        )
        response = events[-1].response
        assert response.status == "completed"
        assert [item.type for item in response.output] == ["function_call"]
        assert response.output[0].arguments == done.arguments
        sent = fake_upstream.last
        assert sent["tools"] == [
            {
                "type": "function",
                "function": {k: WEATHER[k] for k in ("name", "description", "parameters")},
            }
        ]
        assert sent["tool_choice"] == "auto"

        connection.conversation.item.create(
            item={"type": "function_call_output", "call_id": "call_w1", "output": "sunny, 24 C"}
        )
        until(connection, "conversation.item.done")
        connection.response.create()
        answer = until(connection, "response.done")
    spoken = "".join(e.delta for e in answer if e.type == "response.output_audio_transcript.delta")
    assert spoken == "It is sunny, 24 C in Paris."
    assert any(e.type == "response.output_audio.delta" for e in answer)
    messages = fake_upstream.last["messages"]
    assert messages[-2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_w1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": done.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_w1", "content": "sunny, 24 C"},
    ]


def test_an_unknown_call_id_is_an_error_event_and_the_session_goes_on(sdk, fake_upstream):
    with sdk.realtime.connect(model="gpt-realtime") as connection:
        start(connection)
        connection.conversation.item.create(
            item={"type": "function_call_output", "call_id": "call_nope", "output": "{}"}
        )
        error = until(connection, "error")[-1].error
        assert error.type == "invalid_request_error"
        assert error.param == "item.call_id"
        say(connection, "Still there?")
        connection.response.create()
        assert until(connection, "response.done")[-1].response.status == "completed"


def test_client_created_calls_reach_the_llm_as_a_pair(sdk, fake_upstream):
    with sdk.realtime.connect(model="gpt-realtime") as connection:
        start(connection)
        say(connection, "Book a table.")
        connection.conversation.item.create(
            item={
                "type": "function_call",
                "call_id": "call_c1",
                "name": "book",
                "arguments": '{"seats": 2}',
            }
        )
        until(connection, "conversation.item.done")
        connection.conversation.item.create(
            item={"type": "function_call_output", "call_id": "call_c1", "output": "booked"}
        )
        until(connection, "conversation.item.done")
        connection.response.create()
        until(connection, "response.done")
    roles = [m["role"] for m in fake_upstream.last["messages"]]
    assert roles == ["system", "user", "assistant", "tool"]


def test_response_tools_override_and_tool_choice_none(sdk, fake_upstream):
    fake_upstream.tool_calls = [ToolCall("get_weather", {"city": "Oslo"})]
    with sdk.realtime.connect(model="gpt-realtime") as connection:
        start(connection, tools=[WEATHER])
        say(connection, "Weather?")
        connection.response.create(response={"tool_choice": "none"})
        events = until(connection, "response.done")
        assert "tools" not in fake_upstream.last
        assert [i.type for i in events[-1].response.output] == ["message"]
        connection.response.create(
            response={
                "tools": [WEATHER],
                "tool_choice": {"type": "function", "name": "get_weather"},
            }
        )
        until(connection, "response.done")
    assert fake_upstream.last["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_weather"},
    }


def test_bad_tools_are_refused_by_name(sdk, fake_upstream):
    with sdk.realtime.connect(model="gpt-realtime") as connection:
        assert connection.recv().type == "session.created"
        connection.send({"type": "session.update", "session": {"type": "realtime", "tools": [{"type": "function", "name": "bad name!"}]}})  # fmt: skip
        error = until(connection, "error")[-1].error
        assert error.param == "session.tools[0].name"
        connection.send({"type": "session.update", "session": {"type": "realtime", "tool_choice": "sometimes"}})  # fmt: skip
        assert until(connection, "error")[-1].error.param == "session.tool_choice"


def test_cancelling_a_call_leaves_it_out_of_what_the_llm_reads(sdk, fake_upstream):
    fake_upstream.tool_calls = [ToolCall("get_weather", {"city": "Rome"})]
    fake_upstream.word_delay = 0.3
    with sdk.realtime.connect(model="gpt-realtime") as connection:
        start(connection, tools=[WEATHER])
        say(connection, "Weather in Rome?")
        connection.response.create()
        until(connection, "response.function_call_arguments.delta")
        connection.response.cancel()
        cancelled = until(connection, "response.done")[-1].response
        assert cancelled.status == "cancelled"
        assert cancelled.output[0].status == "incomplete"
        fake_upstream.tool_calls = []
        fake_upstream.word_delay = 0.02
        connection.response.create()
        assert until(connection, "response.done")[-1].response.status == "completed"
    assert [m["role"] for m in fake_upstream.last["messages"]] == ["system", "user"]
