"""/v1/chat/completions in-process: fake STT and TTS engines, a real fake upstream on loopback.

The fake STT engine "hears" a scripted sentence per second of audio and the fake TTS engine
says each word as 0.1 s of tone, so what reached the upstream and how long the spoken reply
is are both exact. tests/contract/test_chat.py runs the same flow on the real engines.
"""

from __future__ import annotations

import base64
import io
import json
import wave

import httpx
import numpy as np
import openai
import pytest
import structlog
from clips import pcm16_wav

import voxgate_openai_upstream
import voxgate_pyav
from voxgate.services.sentences import SentenceBuffer
from voxgate.testing import app_client, openai_client
from voxgate.testing.fakes import FakeSttEngine, FakeTtsEngine

HEARD = "What is the weather like today?"
CHAT_ENV = ("CHAT_COMPLETION_BASE_URL", "CHAT_COMPLETION_API_KEY", "CHAT_COMPLETION_MODEL")


def chat_toml(base_url: str | None, extra: str = "") -> str:
    url = f'base_url = "{base_url}"' if base_url else ""
    return f"""
[stt.fake-stt]
kind = "fake-stt"
texts = ["{HEARD}"]

[tts.tone]
kind = "fake-tts"

[chat.upstream]
kind = "openai"
{url}
timeout = 1.0
retries = 0
{extra}

[models]
"whisper-1" = "fake-stt"
"tts-1" = {{ tts = "tone" }}
"""


@pytest.fixture(autouse=True)
def _no_chat_env(monkeypatch):
    for name in CHAT_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def chat_plugins(plugins):
    return [*plugins, voxgate_pyav, voxgate_openai_upstream]


def wav_bytes(seconds: float, rate: int = 16_000, pitch: float = 220.0) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * pitch * t) * 32767).astype("<i2")
    return pcm16_wav(samples.tobytes(), rate)


def audio_message(data: bytes, text: str = "Please answer this:") -> dict:
    return {
        "role": "user",
        "content": [
            {"type": "text", "text": text},
            {
                "type": "input_audio",
                "input_audio": {"data": base64.b64encode(data).decode(), "format": "wav"},
            },
        ],
    }


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as reader:
        assert reader.getframerate() == 24_000
        return reader.getnframes() / reader.getframerate()


# -- input audio ------------------------------------------------------------------------------


async def test_input_audio_reaches_the_upstream_as_its_transcript(chat_plugins, fake_upstream):
    fake_upstream.reply = "You said: {said}"
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    async with openai_client(chat_toml(fake_upstream.url), chat_plugins) as client:
        reply = await client.chat.completions.create(
            model="llama3.2",
            messages=[{"role": "system", "content": "Be brief."}, audio_message(wav_bytes(1.0))],
            temperature=0.3,
            tools=tools,
            response_format={"type": "text"},
            extra_body={"transcription_model": "whisper-1", "top_k": 40},
        )
    sent = fake_upstream.last
    assert sent["messages"][1]["content"] == [
        {"type": "text", "text": "Please answer this:"},
        {"type": "text", "text": HEARD},
    ]
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    # everything voxgate does not act on passes through untouched
    assert sent["model"] == "llama3.2"
    assert sent["temperature"] == 0.3
    assert sent["tools"] == tools
    assert sent["response_format"] == {"type": "text"}
    assert sent["top_k"] == 40
    assert "transcription_model" not in sent
    assert sent["stream"] is False
    # text out: the upstream's answer as it is
    assert reply.choices[0].message.content == f"You said: Please answer this: {HEARD}"
    assert reply.choices[0].message.audio is None
    assert reply.usage.total_tokens > 0


async def test_text_only_chat_needs_no_speech_engines(plugins, fake_upstream):
    toml = f'[chat.upstream]\nkind = "openai"\nbase_url = "{fake_upstream.url}"\n'
    async with openai_client(toml, [*plugins, voxgate_openai_upstream]) as client:
        reply = await client.chat.completions.create(
            model="any-model", messages=[{"role": "user", "content": "Hi"}]
        )
        chunks = [
            chunk
            async for chunk in await client.chat.completions.create(
                model="any-model", messages=[{"role": "user", "content": "Hi"}], stream=True
            )
        ]
    assert reply.choices[0].message.content == fake_upstream.reply
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == fake_upstream.reply
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_a_second_turn_transcribes_only_its_new_audio(chat_plugins, fake_upstream):
    async with openai_client(chat_toml(fake_upstream.url), chat_plugins) as client:
        first_audio = wav_bytes(1.0)
        turn = [audio_message(first_audio)]
        first = await client.chat.completions.create(
            model="m",
            messages=turn,
            modalities=["text", "audio"],
            audio={"voice": "tone", "format": "wav"},
        )
        assert FakeSttEngine.steps == 1
        spoken = first.choices[0].message.audio
        second_turn = [
            *turn,
            {"role": "assistant", "audio": {"id": spoken.id}},
            audio_message(wav_bytes(2.0, pitch=330.0), text="And this:"),
        ]
        await client.chat.completions.create(model="m", messages=second_turn)
    assert FakeSttEngine.steps == 1 + 2, "only the new 2 s clip was transcribed (two segments)"
    sent = fake_upstream.last["messages"]
    assert sent[0]["content"][1] == {"type": "text", "text": HEARD}, "from the cache"
    assert sent[1] == {"role": "assistant", "content": spoken.transcript}
    assert sent[2]["content"][1]["text"] == f"{HEARD} {HEARD}"


# -- audio out --------------------------------------------------------------------------------


async def test_audio_reply_has_message_audio_and_null_content(chat_plugins, fake_upstream):
    async with openai_client(chat_toml(fake_upstream.url), chat_plugins) as client:
        reply = await client.chat.completions.create(
            model="gpt-4o-audio-preview",
            messages=[audio_message(wav_bytes(1.0))],
            modalities=["text", "audio"],
            audio={"voice": "tone", "format": "wav"},
        )
    sent = fake_upstream.last
    assert "modalities" not in sent
    assert "audio" not in sent
    message = reply.choices[0].message
    assert message.content is None
    audio = message.audio
    assert audio.transcript == fake_upstream.reply
    assert audio.id.startswith("audio_")
    assert audio.expires_at > 0
    words = len(fake_upstream.reply.split())
    assert wav_seconds(base64.b64decode(audio.data)) == pytest.approx(0.1 * words, abs=0.01)


@pytest.mark.parametrize(
    ("fmt", "magic"),
    [("mp3", None), ("flac", b"fLaC"), ("opus", b"OggS"), ("aac", None), ("pcm16", None)],
)
async def test_every_audio_format(chat_plugins, fake_upstream, fmt, magic):
    fake_upstream.reply = "One two three four five."
    async with openai_client(chat_toml(fake_upstream.url), chat_plugins) as client:
        reply = await client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "Count."}],
            modalities=["text", "audio"],
            audio={"voice": "tone", "format": fmt},
        )
    data = base64.b64decode(reply.choices[0].message.audio.data)
    if fmt == "pcm16":
        assert len(data) == 2 * 24_000 // 2, "0.5 s of 24 kHz s16le"
    elif magic is not None:
        assert data.startswith(magic)
    else:
        assert len(data) > 500


async def test_n_choices_each_get_their_audio(chat_plugins, fake_upstream):
    async with openai_client(chat_toml(fake_upstream.url), chat_plugins) as client:
        reply = await client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "Hi"}],
            n=2,
            modalities=["text", "audio"],
            audio={"voice": "tone", "format": "wav"},
        )
    assert fake_upstream.last["n"] == 2
    assert len(reply.choices) == 2
    ids = {choice.message.audio.id for choice in reply.choices}
    assert len(ids) == 2
    for choice in reply.choices:
        assert wav_seconds(base64.b64decode(choice.message.audio.data)) > 1.0


# -- streaming --------------------------------------------------------------------------------


def stream_events(body: bytes) -> list:
    events = []
    for frame in body.decode().split("\n\n"):
        if frame.startswith("data: "):
            data = frame.removeprefix("data: ")
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


async def test_streamed_audio_order(chat_plugins, fake_upstream):
    fake_upstream.word_delay = 0.05
    body = {
        "model": "m",
        "messages": [audio_message(wav_bytes(1.0))],
        "modalities": ["text", "audio"],
        "audio": {"voice": "tone", "format": "wav"},
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    try:
        async with app_client(chat_toml(fake_upstream.url), chat_plugins) as http:
            response = await http.post("/v1/chat/completions", json=body)
    finally:
        fake_upstream.word_delay = 0.02
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = stream_events(response.content)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert fake_upstream.last["stream"] is True
    assert fake_upstream.last["stream_options"] == {"include_usage": True}

    def audio(chunk):
        return chunk["choices"][0]["delta"].get("audio", {}) if chunk["choices"] else {}

    transcript = [i for i, c in enumerate(chunks) if "transcript" in audio(c)]
    data = [i for i, c in enumerate(chunks) if "data" in audio(c)]
    final = [i for i, c in enumerate(chunks) if "expires_at" in audio(c)]
    finish = [i for i, c in enumerate(chunks) if c["choices"] and c["choices"][0]["finish_reason"]]
    usage = [i for i, c in enumerate(chunks) if c.get("usage")]
    assert all([transcript, data, final, finish, usage])
    text = "".join(audio(chunks[i])["transcript"] for i in transcript)
    assert text == fake_upstream.reply
    assert all("content" not in c["choices"][0]["delta"] for c in chunks if c["choices"])
    assert data[0] < transcript[-1], "the first sentence was spoken while the LLM still wrote"
    assert final == [len(chunks) - 3]
    assert audio(chunks[final[0]])["id"] == audio(chunks[data[0]])["id"]
    assert max(data) < final[0] < finish[0] < usage[0] == len(chunks) - 1
    assert chunks[-1]["choices"] == []
    pcm = b"".join(base64.b64decode(audio(chunks[i])["data"]) for i in data)
    words = len(fake_upstream.reply.split())
    assert len(pcm) / 2 / 24_000 == pytest.approx(0.1 * words, abs=0.01)


CLAUSE_FIRST = "The library opens early in the morning on most days of the week. Bring your card."


async def test_streamed_reply_speaks_its_first_clause_while_the_llm_writes(
    chat_plugins, fake_upstream
):
    fake_upstream.reply = CLAUSE_FIRST
    fake_upstream.word_delay = 0.05
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "Hi"}],
        "modalities": ["text", "audio"],
        "audio": {"voice": "tone", "format": "pcm16"},
        "stream": True,
    }
    try:
        async with app_client(chat_toml(fake_upstream.url), chat_plugins) as http:
            response = await http.post("/v1/chat/completions", json=body)
    finally:
        fake_upstream.word_delay = 0.02
    chunks = stream_events(response.content)[:-1]
    deltas = [c["choices"][0]["delta"].get("audio", {}) for c in chunks if c["choices"]]
    first_data = next(i for i, d in enumerate(deltas) if "data" in d)
    text_before = "".join(d.get("transcript", "") for d in deltas[:first_data])
    assert FakeTtsEngine.said[0] == "The library opens early"
    assert " ".join(FakeTtsEngine.said) == CLAUSE_FIRST
    assert "week." not in text_before, "spoken before the first sentence was written"


async def test_a_whole_reply_is_not_cut_at_its_first_clause(chat_plugins, fake_upstream):
    fake_upstream.reply = CLAUSE_FIRST
    async with openai_client(chat_toml(fake_upstream.url), chat_plugins) as client:
        await client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "Hi"}],
            modalities=["text", "audio"],
            audio={"voice": "tone", "format": "wav"},
        )
    assert FakeTtsEngine.said == [CLAUSE_FIRST], "nothing is sent before the whole reply"


async def test_streamed_audio_through_the_sdk(chat_plugins, fake_upstream):
    async with openai_client(chat_toml(fake_upstream.url), chat_plugins) as client:
        stream = await client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "Hi"}],
            modalities=["text", "audio"],
            audio={"voice": "tone", "format": "pcm16"},
            stream=True,
            n=2,
        )
        chunks = [chunk async for chunk in stream]
    per_choice: dict[int, list[str]] = {0: [], 1: []}
    for chunk in chunks:
        for choice in chunk.choices:
            audio = choice.delta.audio
            if audio is not None and audio.transcript:
                per_choice[choice.index].append(audio.transcript)
    assert ["".join(parts) for parts in per_choice.values()] == [fake_upstream.reply] * 2


# -- errors -----------------------------------------------------------------------------------


async def test_no_upstream_configured_is_a_503_that_says_how(chat_plugins):
    async with openai_client(chat_toml(None), chat_plugins) as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "Hi"}]
            )
    assert caught.value.status_code == 503
    assert "CHAT_COMPLETION_BASE_URL" in caught.value.message
    assert caught.value.code == "upstream_not_configured"
    assert caught.value.response.headers["x-should-retry"] == "false"


async def test_no_chat_table_is_a_503_too(plugins):
    async with openai_client('[tts.tone]\nkind = "fake-tts"\n', plugins) as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "Hi"}]
            )
    assert caught.value.status_code == 503
    assert "[chat." in caught.value.message


async def test_environment_variables_configure_the_upstream(
    chat_plugins, fake_upstream, monkeypatch
):
    monkeypatch.setenv("CHAT_COMPLETION_BASE_URL", fake_upstream.url)
    monkeypatch.setenv("CHAT_COMPLETION_API_KEY", "sk-upstream")
    monkeypatch.setenv("CHAT_COMPLETION_MODEL", "llama3.2")
    extra = 'headers = { "X-Team" = "audio" }'
    async with openai_client(chat_toml(None, extra), chat_plugins) as client:
        await client.chat.completions.create(
            model="gpt-4o-audio-preview", messages=[{"role": "user", "content": "Hi"}]
        )
    assert fake_upstream.last["model"] == "llama3.2"
    headers = fake_upstream.headers[-1]
    assert headers["authorization"] == "Bearer sk-upstream"
    assert headers["x-team"] == "audio"
    assert "test-key" not in json.dumps(headers), "the client's own key never goes upstream"


@pytest.mark.parametrize("stream", [False, True])
async def test_upstream_4xx_passes_through(chat_plugins, fake_upstream, stream):
    async with openai_client(chat_toml(fake_upstream.url), chat_plugins) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="fail-400", messages=[{"role": "user", "content": "Hi"}], stream=stream
            )
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(
                model="fail-404", messages=[{"role": "user", "content": "Hi"}], stream=stream
            )
        with pytest.raises(openai.AuthenticationError) as denied:
            await client.chat.completions.create(
                model="fail-401", messages=[{"role": "user", "content": "Hi"}], stream=stream
            )
    assert caught.value.body["message"] == "upstream refused with 400"
    assert caught.value.param == "temperature"
    assert caught.value.code == "code_400"
    assert "CHAT_COMPLETION_API_KEY" in denied.value.message


@pytest.mark.parametrize("stream", [False, True])
async def test_a_404_from_a_base_url_without_a_path_suggests_v1(
    chat_plugins, fake_upstream, stream
):
    """speaches' Ollama example: ``CHAT_COMPLETION_BASE_URL=http://localhost:11434``."""
    root = fake_upstream.url.removesuffix("/v1").replace("http://", "http://user:secret@")
    for base_url in (root, root + "/"):
        async with openai_client(chat_toml(base_url), chat_plugins) as client:
            with pytest.raises(openai.NotFoundError) as caught:
                await client.chat.completions.create(
                    model="llama3.2", messages=[{"role": "user", "content": "Hi"}], stream=stream
                )
        shown = root.replace("user:secret@", "***@")
        assert caught.value.body["message"] == (
            f"no such route (voxgate sent POST {shown}/chat/completions; OpenAI-compatible "
            f"servers usually serve it under /v1: set the base URL (CHAT_COMPLETION_BASE_URL "
            f"or `base_url`) to {shown}/v1)"
        )


async def test_a_404_from_a_base_url_with_a_path_is_passed_as_it_is(chat_plugins, fake_upstream):
    async with openai_client(chat_toml(fake_upstream.url), chat_plugins) as client:
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(
                model="fail-404", messages=[{"role": "user", "content": "Hi"}]
            )
    assert "/v1" not in caught.value.message


async def test_upstream_failures_are_502_and_504(chat_plugins, fake_upstream):
    async with openai_client(chat_toml(fake_upstream.url), chat_plugins) as client:
        with pytest.raises(openai.InternalServerError) as failed:
            await client.chat.completions.create(
                model="fail-500", messages=[{"role": "user", "content": "Hi"}]
            )
        with pytest.raises(openai.BadRequestError) as not_json:
            await client.chat.completions.create(
                model="plain-text-error", messages=[{"role": "user", "content": "Hi"}]
            )
        fake_upstream.slow_seconds = 3.0
        with pytest.raises(openai.InternalServerError) as slow:
            await client.chat.completions.create(
                model="slow", messages=[{"role": "user", "content": "Hi"}]
            )
    assert failed.value.status_code == 502
    assert "upstream refused with 500" in failed.value.message
    assert not_json.value.body["message"] == "upstream says no"
    assert slow.value.status_code == 504
    assert slow.value.code == "upstream_timeout"


async def test_unreachable_upstream_is_a_502(chat_plugins):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        toml = chat_toml(f"http://127.0.0.1:{port}/v1")
        async with openai_client(toml, chat_plugins) as client:
            with pytest.raises(openai.InternalServerError) as caught:
                await client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "Hi"}], stream=True
                )
    assert caught.value.status_code == 502
    assert "cannot be reached" in caught.value.message


async def test_an_upstream_error_mid_stream_is_an_sse_error(chat_plugins, fake_upstream):
    async with openai_client(chat_toml(fake_upstream.url), chat_plugins) as client:
        for audio in (False, True):
            extra = {"modalities": ["text", "audio"], "audio": {"voice": "tone", "format": "pcm16"}}
            stream = await client.chat.completions.create(
                model="break-mid-stream",
                messages=[{"role": "user", "content": "Hi"}],
                stream=True,
                **(extra if audio else {}),
            )
            with pytest.raises(openai.APIError, match="the model crashed"):
                async for _ in stream:
                    pass


async def test_an_upstream_that_answers_a_stream_with_json_is_a_502(chat_plugins, fake_upstream):
    async with openai_client(chat_toml(fake_upstream.url), chat_plugins) as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(
                model="json-for-stream", messages=[{"role": "user", "content": "Hi"}], stream=True
            )
    assert caught.value.status_code == 502
    assert "application/json" in caught.value.message
    assert "event stream" in caught.value.message


async def test_an_upstream_stream_cut_short_ends_with_an_sse_error(chat_plugins, fake_upstream):
    async with openai_client(chat_toml(fake_upstream.url), chat_plugins) as client:
        for audio in (False, True):
            extra = {"modalities": ["text", "audio"], "audio": {"voice": "tone", "format": "pcm16"}}
            stream = await client.chat.completions.create(
                model="cut-short",
                messages=[{"role": "user", "content": "Hi"}],
                stream=True,
                **(extra if audio else {}),
            )
            with pytest.raises(openai.APIError, match="ended before"):
                async for _ in stream:
                    pass


@pytest.mark.parametrize(
    ("change", "status", "param"),
    [
        ({"audio_data": "not base64!"}, 400, "messages[0].content[1].input_audio"),
        ({"audio_data": base64.b64encode(b"not audio at all" * 50).decode()}, 400,
         "messages[0].content[1].input_audio"),
        ({"modalities": ["text", "audio"]}, 400, "audio"),
        ({"modalities": ["text", "audio"], "audio": {"voice": "nobody", "format": "wav"}}, 400,
         "audio.voice"),
        ({"modalities": ["text", "audio"], "audio": {"voice": "tone", "format": "ogg"}}, 400,
         "audio.format"),
        ({"modalities": ["text", "audio"], "audio": {"voice": "tone", "format": "wav"},
          "speech_model": "tts-9"}, 404, "speech_model"),
        ({"transcription_model": "whisper-9"}, 404, "transcription_model"),
        ({"messages": []}, 400, "messages"),
        ({"modalities": ["text", "audio"], "audio": {"voice": "tone", "format": "wav"}, "n": 9},
         400, "n"),
    ],
)  # fmt: skip
async def test_bad_requests_fail_before_the_upstream(
    chat_plugins, fake_upstream, change, status, param
):
    change = dict(change)
    data = change.pop("audio_data", base64.b64encode(wav_bytes(1.0)).decode())
    message = audio_message(b"")
    message["content"][1]["input_audio"]["data"] = data
    body = {"model": "m", "messages": [message], **change}
    async with app_client(chat_toml(fake_upstream.url), chat_plugins) as http:
        response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert set(error) == {"message", "type", "param", "code"}
    assert not fake_upstream.requests


async def test_unknown_reply_audio_id(chat_plugins, fake_upstream):
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "audio": {"id": "audio_gone"}},
        {"role": "user", "content": "Again"},
    ]
    async with openai_client(chat_toml(fake_upstream.url), chat_plugins) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model="m", messages=messages)
        messages[1]["content"] = "What I said before."
        await client.chat.completions.create(model="m", messages=messages)
    assert caught.value.param == "messages[1].audio.id"
    assert fake_upstream.last["messages"][1] == {
        "role": "assistant",
        "content": "What I said before.",
    }


async def test_not_json_is_a_400(chat_plugins, fake_upstream):
    async with app_client(chat_toml(fake_upstream.url), chat_plugins) as http:
        response = await http.post(
            "/v1/chat/completions", content=b"{nope", headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_sentence_buffer_releases_complete_sentences():
    buffer = SentenceBuffer()
    released = []
    for delta in ["Hello", " there.", " Dr.", " Smith paid", " $3.", "50 today", ". Bye", " now"]:
        released += buffer.feed(delta)
    assert released == ["Hello there.", "Dr. Smith paid $3.50 today."]
    assert buffer.flush() == ["Bye now"]
    assert buffer.flush() == []
    spaced = SentenceBuffer()
    assert spaced.feed("One. Two ") == ["One."]
    assert spaced.feed("words.") == []
    assert spaced.flush() == ["Two words."]


async def test_the_proxy_closes_its_connections_at_shutdown(chat_plugins, fake_upstream):
    async with app_client(chat_toml(fake_upstream.url), chat_plugins) as http:
        proxy = http.app.state.runtime.chat["upstream"]
        assert isinstance(proxy._client, httpx.AsyncClient)
        client = proxy._client
    assert client.is_closed
    assert proxy._client is None


async def test_upstream_credentials_never_reach_clients_or_logs(chat_plugins):
    """A 502 names the upstream without the password its URL carries, and so do the logs."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        toml = chat_toml(f"http://alice:s3cret-pw@127.0.0.1:{port}/v1?api_key=k3y-in-query")
        with structlog.testing.capture_logs() as logs:
            async with openai_client(toml, chat_plugins) as client:
                with pytest.raises(openai.InternalServerError) as caught:
                    await client.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": "Hi"}]
                    )
    assert caught.value.status_code == 502
    assert f"http://***@127.0.0.1:{port}/v1" in caught.value.message
    logged = repr(logs)
    assert "127.0.0.1" in logged, "the upstream is still named in the log"
    for secret in ("s3cret-pw", "alice", "k3y-in-query"):
        assert secret not in caught.value.message
        assert secret not in logged


async def test_too_long_input_audio_is_refused_before_any_decoding(
    chat_plugins, fake_upstream, monkeypatch
):
    """Two minutes of FLAC against a one-minute limit: refused from its packets (issue 16)."""
    from audio_files import silence

    from voxgate_pyav import decode

    batches = []
    push = decode._MonoResampler.push
    monkeypatch.setattr(
        decode._MonoResampler, "push", lambda self, frame: batches.append(1) or push(self, frame)
    )
    limit = '[transcoder]\nkind = "pyav"\nmax_decoded_seconds = 60\n'
    message = audio_message(silence("flac", "flac", 16_000, 120))
    body = {"model": "m", "messages": [message]}
    async with app_client(chat_toml(fake_upstream.url, limit), chat_plugins) as http:
        response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "messages[0].content[1].input_audio"
    assert "longer than the 1 minute" in error["message"]
    assert batches == [], "nothing was decoded"
    assert not fake_upstream.requests
