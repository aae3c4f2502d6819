"""A real OpenAI-compatible chat server on loopback for the chat proxy's tests.

It answers plain and streamed chat completions, records every body and header it receives,
and misbehaves on request: the request's ``model`` picks the behaviour.

- any model: the reply is ``FakeUpstream.reply`` (``{said}`` becomes the last user text);
- ``fail-400`` / ``fail-401`` / ``fail-404`` / ``fail-500``: that status with an OpenAI envelope;
- ``plain-text-error``: a 400 whose body is not JSON;
- ``slow``: answers after ``FakeUpstream.slow_seconds``;
- ``break-mid-stream``: streams one chunk, then an error event;
- ``json-for-stream``: answers a streamed request with a plain JSON completion;
- ``cut-short``: streams one chunk, then ends without ``finish_reason`` or ``[DONE]``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import uvicorn
from servers import free_port

DEFAULT_REPLY = "Hello there. The weather is sunny and warm today. Enjoy your walk in the park."


class FakeUpstream:
    """Start with ``start()``; ``url`` is its API root (``…/v1``)."""

    def __init__(self) -> None:
        self.reply = DEFAULT_REPLY
        self.slow_seconds = 3.0
        self.word_delay = 0.02
        self.plain_latency = False  # non-streamed replies also take word_delay per word (bench)
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
        reply = self.reply.replace("{said}", " ".join(self.user_texts()))
        n = int(body.get("n") or 1)
        if body.get("stream") and model != "json-for-stream":
            await self._stream(send, body, reply, n)
        else:
            if self.plain_latency:
                await asyncio.sleep(self.word_delay * len(reply.split()))
            await _respond(send, 200, _completion(body, reply, n))

    async def _stream(self, send: Any, body: dict[str, Any], reply: str, n: int) -> None:
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
                            "delta": {"role": "assistant", "content": ""},
                            "finish_reason": None,
                        }
                    ],
                }
            )
        words = reply.split(" ")
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
        for index in range(n):
            await event(
                {**base, "choices": [{"index": index, "delta": {}, "finish_reason": "stop"}]}
            )
        if (body.get("stream_options") or {}).get("include_usage"):
            await event({**base, "choices": [], "usage": _usage(reply, n)})
        await event("[DONE]")
        await send({"type": "http.response.body", "body": b""})


def _completion(body: dict[str, Any], reply: str, n: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1,
        "model": body["model"],
        "choices": [
            {
                "index": index,
                "message": {"role": "assistant", "content": reply, "refusal": None},
                "finish_reason": "stop",
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
