"""A real OpenAI-compatible chat server on loopback for the chat proxy's tests.

It answers plain and streamed chat completions, records every body and header it receives,
and misbehaves on request: the request's ``model`` picks the behaviour.

- any model: the reply is ``FakeUpstream.reply`` (``{said}`` becomes the last user text,
  ``{tool_result}`` the tool results sent since the last user message);
- ``fail-400`` / ``fail-401`` / ``fail-404`` / ``fail-500``: that status with an OpenAI envelope;
- ``plain-text-error``: a 400 whose body is not JSON;
- ``slow``: answers after ``FakeUpstream.slow_seconds``;
- ``break-mid-stream``: streams one chunk, then an error event;
- ``json-for-stream``: answers a streamed request with a plain JSON completion;
- ``cut-short``: streams one chunk, then ends without ``finish_reason`` or ``[DONE]``.

Function calling is scripted with ``FakeUpstream.tool_calls``, and answered as OpenAI, vLLM
and Ollama answer it: while the request offers a scripted function (``tools``, and
``tool_choice`` is not ``"none"``) and no ``tool`` message came after the last user message,
the model calls it (``finish_reason: "tool_calls"``), saying ``tool_call_text`` first if set
(a ``tool_choice`` naming one function narrows the calls to it);
once the tool results are in, it answers ``reply``. Streamed, each call is a chunk with its
``index``, ``id``, ``type`` and ``function.name``, then its ``arguments`` in fragments of
``arguments_chunk`` characters (``None``: the whole call in one chunk, as Ollama sends it)::

    fake_upstream.tool_calls = [ToolCall("get_weather", {"city": "Paris"})]
    fake_upstream.reply = "It is {tool_result} in Paris."
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from servers import free_port

DEFAULT_REPLY = "Hello there. The weather is sunny and warm today. Enjoy your walk in the park."
ARGUMENTS_CHUNK = 8  # characters of a call's arguments per streamed chunk (OpenAI's are short)


@dataclass(frozen=True)
class ToolCall:
    """A function call the fake model makes; ``id`` defaults to ``call_<choice>_<position>``."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    @property
    def arguments_json(self) -> str:
        """The arguments as the wire carries them: a JSON string."""
        args = self.arguments
        return args if isinstance(args, str) else json.dumps(args)

    def wire(self, choice: int, position: int) -> dict[str, Any]:
        """The call as ``message.tool_calls[position]`` of a completion."""
        return {
            "id": self.id or f"call_{choice}_{position}",
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments_json},
        }


class FakeUpstream:
    """Start with ``start()``; ``url`` is its API root (``…/v1``)."""

    def __init__(self) -> None:
        self.reply = DEFAULT_REPLY
        self.slow_seconds = 3.0
        self.word_delay = 0.02
        self.plain_latency = False  # non-streamed replies also take word_delay per word (bench)
        self.tool_calls: list[ToolCall] = []  # called while the request offers them (see above)
        self.tool_call_text: str | None = None  # said before the calls, as some models do
        self.arguments_chunk: int | None = ARGUMENTS_CHUNK
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._server = uvicorn.Server(
            uvicorn.Config(
                self._app, host="127.0.0.1", port=self.port, log_config=None, interface="asgi3"
            )
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> FakeUpstream:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def reset(self) -> None:
        self.reply = DEFAULT_REPLY
        self.word_delay = 0.02
        self.tool_calls = []
        self.tool_call_text = None
        self.arguments_chunk = ARGUMENTS_CHUNK
        self.requests.clear()
        self.headers.clear()

    @property
    def last(self) -> dict[str, Any]:
        return self.requests[-1]

    def user_texts(self, index: int = -1) -> list[str]:
        """Every text the last (or ``index``) request's user messages carried."""
        texts = []
        for message in self.requests[index]["messages"]:
            content = message.get("content")
            if message.get("role") != "user":
                continue
            if isinstance(content, str):
                texts.append(content)
            else:
                texts += [part["text"] for part in content if part.get("type") == "text"]
        return texts

    def tool_results(self, index: int = -1) -> list[str]:
        """The ``tool`` messages' contents since the last user message of a request."""
        return [
            _text(message.get("content"))
            for message in _since_last_user(self.requests[index]["messages"])
            if message.get("role") == "tool"
        ]

    def calls_for(self, body: dict[str, Any]) -> list[ToolCall]:
        """The scripted calls this request gets: those it offers, until their results come.

        ``tool_choice: "none"`` turns calling off; ``{"type": "function", "function":
        {"name"}}`` narrows it to that function.
        """
        choice = body.get("tool_choice")
        if choice == "none":
            return []
        offered = {
            tool.get("function", {}).get("name")
            for tool in body.get("tools") or []
            if tool.get("type") == "function"
        }
        if isinstance(choice, dict):
            offered &= {choice.get("function", {}).get("name")}
        messages = body.get("messages") or []
        if any(message.get("role") == "tool" for message in _since_last_user(messages)):
            return []
        return [call for call in self.tool_calls if call.name in offered]

    def _reply_text(self, calls: list[ToolCall]) -> str:
        if calls:
            return self.tool_call_text or ""
        reply = self.reply.replace("{said}", " ".join(self.user_texts()))
        return reply.replace("{tool_result}", " ".join(self.tool_results()))

    # -- the ASGI app ---------------------------------------------------------------------

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] != "/v1/chat/completions":
            await _respond(send, 404, {"error": {"message": "no such route"}})
            return
        body = json.loads(raw)
        self.requests.append(body)
        self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        model = body.get("model", "")
        if model.startswith("fail-"):
            status = int(model.removeprefix("fail-"))
            await _respond(send, status, _envelope(status))
            return
        if model == "plain-text-error":
            await _respond(send, 400, b"upstream says no")
            return
        if model == "slow":
            await asyncio.sleep(self.slow_seconds)
        calls = self.calls_for(body)
        reply = self._reply_text(calls)
        n = int(body.get("n") or 1)
        if body.get("stream") and model != "json-for-stream":
            await self._stream(send, body, reply, n, calls)
        else:
            if self.plain_latency:
                await asyncio.sleep(self.word_delay * len(reply.split()))
            await _respond(send, 200, _completion(body, reply, n, calls))

    async def _stream(
        self, send: Any, body: dict[str, Any], reply: str, n: int, calls: list[ToolCall]
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )

        async def event(payload: object) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            await send(
                {
                    "type": "http.response.body",
                    "body": f"data: {data}\n\n".encode(),
                    "more_body": True,
                }
            )

        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": body["model"],
        }
        for index in range(n):
            await event(
                {
                    **base,
                    "choices": [
                        {
                            "index": index,
                            "delta": {
                                "role": "assistant",
                                "content": "" if reply or not calls else None,
                            },
                            "finish_reason": None,
                        }
                    ],
                }
            )
        words = reply.split(" ") if reply else []
        for position, word in enumerate(words):
            text = word if position == 0 else " " + word
            for index in range(n):
                await event(
                    {
                        **base,
                        "choices": [
                            {"index": index, "delta": {"content": text}, "finish_reason": None}
                        ],
                    }
                )
            if body["model"] == "cut-short":
                await send({"type": "http.response.body", "body": b""})
                return
            if body["model"] == "break-mid-stream":
                await event(
                    {
                        "error": {
                            "message": "the model crashed",
                            "type": "server_error",
                            "param": None,
                            "code": None,
                        }
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
            await asyncio.sleep(self.word_delay)
        for deltas in zip(*(self.call_deltas(calls, index) for index in range(n)), strict=True):
            for index, delta in enumerate(deltas):
                choice = {"index": index, "delta": {"tool_calls": [delta]}, "finish_reason": None}
                await event({**base, "choices": [choice]})
            await asyncio.sleep(self.word_delay)
        finish = "tool_calls" if calls else "stop"
        for index in range(n):
            await event(
                {**base, "choices": [{"index": index, "delta": {}, "finish_reason": finish}]}
            )
        if (body.get("stream_options") or {}).get("include_usage"):
            await event({**base, "choices": [], "usage": _usage(reply, n)})
        await event("[DONE]")
        await send({"type": "http.response.body", "body": b""})

    def call_deltas(self, calls: list[ToolCall], choice: int) -> list[dict[str, Any]]:
        """One choice's ``delta.tool_calls`` entries: each call's head, then its arguments."""
        deltas: list[dict[str, Any]] = []
        size = self.arguments_chunk
        for position, call in enumerate(calls):
            head = {"index": position, **call.wire(choice, position)}
            if size is None:
                deltas.append(head)
                continue
            head["function"] = {**head["function"], "arguments": ""}
            deltas.append(head)
            args = call.arguments_json
            deltas += [
                {"index": position, "function": {"arguments": args[start : start + size]}}
                for start in range(0, len(args), size)
            ]
        return deltas


def _since_last_user(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    users = [i for i, message in enumerate(messages) if message.get("role") == "user"]
    return messages[users[-1] + 1 :] if users else messages


def _text(content: object) -> str:
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")


def _completion(body: dict[str, Any], reply: str, n: int, calls: list[ToolCall]) -> dict[str, Any]:
    def message(choice: int) -> dict[str, Any]:
        content = (reply or None) if calls else reply
        out: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if calls:
            out["tool_calls"] = [call.wire(choice, i) for i, call in enumerate(calls)]
        return out

    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1,
        "model": body["model"],
        "choices": [
            {
                "index": index,
                "message": message(index),
                "finish_reason": "tool_calls" if calls else "stop",
                "logprobs": None,
            }
            for index in range(n)
        ],
        "usage": _usage(reply, n),
    }


def _usage(reply: str, n: int) -> dict[str, int]:
    completion = n * len(reply.split())
    return {"prompt_tokens": 7, "completion_tokens": completion, "total_tokens": 7 + completion}


def _envelope(status: int) -> dict[str, Any]:
    return {
        "error": {
            "message": f"upstream refused with {status}",
            "type": "invalid_request_error",
            "param": "temperature" if status == 400 else None,
            "code": f"code_{status}",
        }
    }


async def _respond(send: Any, status: int, payload: object) -> None:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    kind = b"text/plain" if isinstance(payload, bytes) else b"application/json"
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", kind)]}
    )
    await send({"type": "http.response.body", "body": data})
