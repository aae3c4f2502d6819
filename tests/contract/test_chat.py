"""/v1/chat/completions on the default config's real engines, with a fake LLM on loopback.

The default server's chat proxy is configured only by CHAT_COMPLETION_BASE_URL (as speaches
users do it). Input audio is an espeak-ng recording; replies are spoken by Piper (`tts-1`)
or Kokoro (`tts-1-hd`) and transcribed back with Whisper to check what they say.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
from clips import pcm16_wav
from fake_upstream import ToolCall
from wer import wer

DATA = Path(__file__).resolve().parents[1] / "data"
ENGLISH = json.loads((DATA / "fixtures.json").read_text())["files"]["en-10s.wav"]["text"]
REPLY = "Hello there. The weather is sunny and warm today. Enjoy your walk in the park."


def spoken_question() -> dict:
    data = base64.b64encode((DATA / "en-10s.wav").read_bytes()).decode()
    return {
        "role": "user",
        "content": [{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}],
    }


def transcribe(client, data: bytes) -> str:
    return client.audio.transcriptions.create(
        model="whisper-tiny.en", file=data, response_format="text"
    )


@pytest.mark.parametrize(("speech_model", "voice"), [("tts-1", "alloy"), ("tts-1-hd", "nova")])
def test_spoken_question_gets_a_spoken_answer(client, fake_upstream, speech_model, voice):
    reply = client.chat.completions.create(
        model="gpt-4o-audio-preview",
        messages=[spoken_question()],
        modalities=["text", "audio"],
        audio={"voice": voice, "format": "mp3"},
        extra_body={"speech_model": speech_model},
    )
    heard = fake_upstream.user_texts()
    assert len(heard) == 1
    assert wer(ENGLISH, heard[0]) <= 0.15, heard
    assert fake_upstream.last["model"] == "gpt-4o-audio-preview"
    message = reply.choices[0].message
    assert message.content is None
    assert message.audio.transcript == REPLY
    said = transcribe(client, base64.b64decode(message.audio.data))
    assert wer(REPLY, said) <= 0.2, said


def test_streamed_answer_is_spoken_while_the_llm_writes(default_server, client, fake_upstream):
    fake_upstream.word_delay = 0.15  # a slow LLM: 15 words over about two seconds
    body = {
        "model": "gpt-4o-audio-preview",
        "messages": [{"role": "user", "content": "How is the weather?"}],
        "modalities": ["text", "audio"],
        "audio": {"voice": "alloy", "format": "pcm16"},
        "stream": True,
    }
    events = []
    try:
        with (
            httpx.Client(base_url=default_server.base_url, timeout=60) as http,
            http.stream("POST", "/v1/chat/completions", json=body) as response,
        ):
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data: "):
                    data = line.removeprefix("data: ")
                    events.append(data if data == "[DONE]" else json.loads(data))
    finally:
        fake_upstream.word_delay = 0.02
    assert events[-1] == "[DONE]"
    deltas = [e["choices"][0]["delta"].get("audio", {}) for e in events[:-1] if e["choices"]]
    transcript_at = [i for i, d in enumerate(deltas) if "transcript" in d]
    data_at = [i for i, d in enumerate(deltas) if "data" in d]
    assert data_at[0] < transcript_at[-1], "the first sentence was heard before the LLM finished"
    assert "".join(deltas[i]["transcript"] for i in transcript_at) == REPLY
    pcm = b"".join(base64.b64decode(deltas[i]["data"]) for i in data_at)
    said = transcribe(client, pcm16_wav(pcm))
    assert wer(REPLY, said) <= 0.2, said
    assert "expires_at" in deltas[-1] or "expires_at" in deltas[-2]


def test_a_follow_up_turn_gets_the_spoken_reply_as_text(client, fake_upstream):
    first = client.chat.completions.create(
        model="m",
        messages=[spoken_question()],
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
    )
    follow_up = [
        spoken_question(),
        {"role": "assistant", "audio": {"id": first.choices[0].message.audio.id}},
        {"role": "user", "content": "Thanks!"},
    ]
    client.chat.completions.create(model="m", messages=follow_up)
    sent = fake_upstream.last["messages"]
    assert sent[1] == {"role": "assistant", "content": REPLY}
    assert fake_upstream.requests[0]["messages"][0] == sent[0], "the same transcript, cached"


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather now in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def test_a_spoken_question_calls_a_tool_and_its_result_is_spoken(client, fake_upstream):
    fake_upstream.tool_calls = [ToolCall("get_weather", {"city": "Paris"})]
    # long enough that one misheard word (Piper's voice varies run to run) is not a failure
    fake_upstream.reply = (
        "It is {tool_result} in Paris today, a good day for a long walk by the river."
    )
    voice = {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}
    messages: list = [spoken_question()]
    with client.chat.completions.stream(
        model="gpt-4o-audio-preview", messages=messages, tools=[WEATHER_TOOL], **voice
    ) as stream:
        asked = stream.get_final_completion()
    assert asked.choices[0].finish_reason == "tool_calls"
    message = asked.choices[0].message
    assert message.audio is None
    (call,) = message.tool_calls
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    messages += [message, {"role": "tool", "tool_call_id": call.id, "content": "sunny and warm"}]
    answer = client.chat.completions.create(
        model="gpt-4o-audio-preview", messages=messages, tools=[WEATHER_TOOL], **voice
    )
    sent = fake_upstream.last["messages"]
    assert sent[0] == fake_upstream.requests[0]["messages"][0], "the same transcript, cached"
    assert sent[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[2] == {"role": "tool", "tool_call_id": call.id, "content": "sunny and warm"}
    spoken = answer.choices[0].message.audio
    assert spoken.transcript == (
        "It is sunny and warm in Paris today, a good day for a long walk by the river."
    )
    said = transcribe(client, base64.b64decode(spoken.data))
    assert wer(spoken.transcript, said) <= 0.25, said
