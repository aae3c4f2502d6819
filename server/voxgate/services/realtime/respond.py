"""One realtime response: the conversation to the upstream LLM, its answer spoken as it comes.

The chat-audio pipeline, event-shaped: text deltas go out as transcript (or text) deltas at
once, each complete sentence is synthesized while the LLM writes the next, and its audio goes
out in the session's output format in chunks of at most ``CHUNK_MS``. Tool calls become
``function_call`` output items whose arguments stream as the LLM writes them; nothing is
spoken for them. Cancelling (the client's ``response.cancel`` or barge-in) stops the LLM
stream and the TTS engine at once.

A response knows its session only through what it is given: the runtime, the outbox, the
conversation and a callback for when it ends.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from voxgate.engines.audio import PcmAudio
from voxgate.errors import EngineError, InvalidRequestError, OpenAIError, params_renamed
from voxgate.services import chat_audio, speech
from voxgate.services.realtime import audio as formats
from voxgate.services.realtime import conversation as items
from voxgate.services.realtime import tools
from voxgate.services.realtime.events import Content, Item, function_call, new_id
from voxgate.services.sentences import SentenceBuffer
from voxgate.wire import realtime_events as wire
from voxgate.wire.speech import SpeechRequest

if TYPE_CHECKING:
    from collections.abc import Callable

    from voxgate.runtime import Runtime
    from voxgate.services.realtime.config import SessionConfig
    from voxgate.services.realtime.conversation import Conversation
    from voxgate.services.realtime.outbox import Outbox

log = structlog.get_logger("voxgate.realtime")

CHUNK_MS = 200
SPEECH_RATE = 24_000


def speech_template(runtime: Runtime, config: SessionConfig) -> speech.SpeechJob:
    """The session's speech model, voice and speed, checked as ``/v1/audio/speech`` checks them."""
    request = SpeechRequest(
        model=config.speech_model,
        input=".",
        voice=config.voice,
        response_format="pcm",
        speed=config.speed,
    )
    renames = {
        "model": "session.speech_model",
        "voice": "session.audio.output.voice",
        "speed": "session.audio.output.speed",
    }
    with params_renamed(renames):
        return speech.plan_voice(runtime, request)


def response_config(config: SessionConfig, params: dict[str, Any]) -> SessionConfig:
    """The session config with a ``response.create``'s own overrides, checked."""
    overrides: dict[str, Any] = {}
    if isinstance(params.get("instructions"), str):
        overrides["instructions"] = params["instructions"]
    modalities = params.get("output_modalities", params.get("modalities"))
    if isinstance(modalities, list) and modalities:
        overrides["output_modalities"] = ["audio"] if "audio" in modalities else ["text"]
    output = (params.get("audio") or {}).get("output") or {}
    voice = output.get("voice", params.get("voice"))
    if isinstance(voice, str):
        overrides["voice"] = voice
    if "tools" in params:
        overrides["tools"] = tools.check_tools(params["tools"], "response.tools")
    if "tool_choice" in params:
        overrides["tool_choice"] = tools.check_choice(params["tool_choice"], "response.tool_choice")
    return replace(config, **overrides)


def response_input(conversation: Conversation, params: dict[str, Any]) -> list[Item] | None:
    """``response.create``'s ``input``: items that replace the conversation as the context."""
    raw = params.get("input")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidRequestError("`input` is a list of items.", param="response.input")
    context = []
    for index, entry in enumerate(raw):
        param = f"response.input[{index}]"
        if not isinstance(entry, dict):
            raise InvalidRequestError("Items are objects.", param=param)
        if entry.get("type") == "item_reference":
            context.append(conversation.find(str(entry.get("id"))))
        else:
            context.append(items.item_from_wire(entry, param))
    return context


class AudioSink(Protocol):
    """Where answers are spoken instead of ``response.output_audio.delta`` events.

    WebRTC sends audio only on the server's media track; a WebSocket session has no sink.
    """

    def write(self, response_id: str, pcm: bytes) -> None:
        """Queue audio of ``response_id`` (24 kHz pcm16 mono)."""

    def end(self, response_id: str, *, cancelled: bool) -> None:
        """The response ended: play out what is queued, or drop it when it was cancelled."""

    def clear(self) -> None:
        """Drop whatever is queued (the client's ``output_audio_buffer.clear``)."""


class ResponseRun:
    """A response in progress; ``cancel`` ends it with ``status: cancelled``."""

    def __init__(
        self,
        runtime: Runtime,
        outbox: Outbox,
        conversation: Conversation,
        config: SessionConfig,
        params: dict[str, Any],
        *,
        finished: Callable[[ResponseRun], None],
        sink: AudioSink | None = None,
    ) -> None:
        self.runtime = runtime
        self.outbox = outbox
        self.conversation = conversation
        self.params = params
        self.config = response_config(config, params)
        self.context = response_input(conversation, params)
        self.in_conversation = params.get("conversation") != "none"
        self.id = new_id("resp")
        self.audio = "audio" in self.config.output_modalities
        self.task: asyncio.Task[None] | None = None
        self.item: Item | None = None  # the spoken (or text) answer, once the LLM writes text
        self.calls: dict[int, Item] = {}  # function calls, by the LLM's tool call index
        self.output: list[Item] = []
        self.reason: str | None = None
        self.text: list[str] = []
        self.usage: dict[str, Any] | None = None
        self.audio_ms = 0.0
        self.started = time.perf_counter()
        self._finished = finished
        self.sink = sink

    def cancel(self, reason: str) -> None:
        """Stop now (idempotent)."""
        if self.reason is None:
            self.reason = reason
        if self.task is not None:
            self.task.cancel()

    # -- the run --------------------------------------------------------------------------

    async def run(self) -> None:
        """The whole response, from ``response.created`` to ``response.done``."""
        self.started = time.perf_counter()
        self.outbox.send(wire.ResponseCreated(response=self._response("in_progress")))
        try:
            await self._generate()
        except asyncio.CancelledError:
            if self.sink is not None:
                self.sink.end(self.id, cancelled=True)
            reason = self.reason or "client_cancelled"
            self._finish("cancelled", wire.StatusDetails(type="cancelled", reason=reason))
            raise
        except OpenAIError as exc:
            self.outbox.error(exc)
            self._finish("failed", _failure(exc))
        except Exception:
            log.exception("realtime response failed")
            error = EngineError("The response failed; the server log has the details.")
            self.outbox.error(error)
            self._finish("failed", _failure(error))
        else:
            self._finish("completed", None)
        finally:
            if self.sink is not None:
                self.sink.end(self.id, cancelled=False)  # after a cancel: nothing left to play
            self._finished(self)

    async def _generate(self) -> None:
        runtime = self.runtime
        proxy = runtime.chat_proxy(self.config.model)
        proxy.check_ready()
        template = speech_template(runtime, self.config) if self.audio else None
        await self.conversation.transcribed()
        chunks = runtime.telemetry.upstream_stream(proxy.stream(self._chat_body()))
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        speaker = asyncio.create_task(self._speak(template, sentences)) if template else None
        try:
            buffer = SentenceBuffer()
            async for chunk in chunks:
                for sentence in self._take(chunk, buffer if template else None):
                    sentences.put_nowait(sentence)
            for sentence in buffer.flush() if template else ():
                sentences.put_nowait(sentence)
            sentences.put_nowait(None)
            if speaker is not None:
                await speaker
        finally:
            if speaker is not None and not speaker.done():
                speaker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await speaker
            await chat_audio.close_chunks(chunks)

    def _take(self, chunk: dict[str, Any], buffer: SentenceBuffer | None) -> list[str]:
        """One upstream chunk: usage, tool call pieces, text; the sentences it completes."""
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        sentences: list[str] = []
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue  # a response has one answer
            delta = choice.get("delta") or {}
            for position, call in enumerate(delta.get("tool_calls") or []):
                if isinstance(call, dict):
                    self._tool_delta(position, call)
            content = delta.get("content")
            if isinstance(content, str) and content:
                self._text_delta(content)
                if buffer is not None:
                    sentences += buffer.feed(content)
        return sentences

    def _chat_body(self) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        if self.config.instructions:
            messages.append({"role": "system", "content": self.config.instructions})
        context = self.context if self.context is not None else self.conversation.items
        messages += items.messages(context)
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "stream_options": {"include_usage": True},
        }
        if self.config.tools and self.config.tool_choice != "none":
            body["tools"] = tools.chat_tools(self.config.tools)
            body["tool_choice"] = tools.chat_choice(self.config.tool_choice)
        if self.config.temperature is not None:
            body["temperature"] = self.config.temperature
        if isinstance(self.config.max_output_tokens, int):
            body["max_tokens"] = self.config.max_output_tokens
        return body

    # -- output items -------------------------------------------------------------------------

    def _open(self, item: Item) -> int:
        """A new output item: announced, and in the conversation unless out of band."""
        previous = self.conversation.last_id()
        index = len(self.output)
        self.output.append(item)
        beta = self.outbox.beta
        if self.in_conversation:
            self.conversation.add(item)
        self.outbox.send(
            wire.OutputItemAdded(response_id=self.id, output_index=index, item=item.wire(beta=beta))
        )
        self.outbox.send(wire.ItemAdded(item=item.wire(beta=beta), previous_item_id=previous))
        return index

    def _message(self) -> Item:
        """The answer's message item, opened at the first text."""
        if self.item is None:
            part = (
                Content(type="output_audio", transcript="")
                if self.audio
                else Content(type="output_text", text="")
            )
            self.item = Item(role="assistant", content=[part], status="in_progress")
            self._open(self.item)
            self.outbox.send(wire.ContentPartAdded(**self._where(), part=part.part()))
        return self.item

    def _where(self) -> dict[str, Any]:
        item = self.item
        if item is None:
            msg = "a content event before the response's message was opened"
            raise RuntimeError(msg)
        return {
            "response_id": self.id,
            "item_id": item.id,
            "output_index": self.output.index(item),
            "content_index": 0,
        }

    def _text_delta(self, delta: str) -> None:
        self._message()
        self.text.append(delta)
        event = wire.AudioTranscriptDelta if self.audio else wire.TextDelta
        self.outbox.send(event(**self._where(), delta=delta))

    def _tool_delta(self, position: int, call: dict[str, Any]) -> None:
        """A piece of a streamed tool call: the call opens at its first piece."""
        index = call.get("index", position)
        function = call.get("function") or {}
        item = self.calls.get(index)
        if item is None:
            call_id = call.get("id") if isinstance(call.get("id"), str) else new_id("call")
            item = function_call(str(call_id), str(function.get("name") or ""))
            item.status = "in_progress"
            self.calls[index] = item
            self.conversation.remember_call(item.call_id)
            self._open(item)
        elif not item.name and isinstance(function.get("name"), str):
            item.name = function["name"]
        fragment = function.get("arguments")
        if isinstance(fragment, str) and fragment:
            item.arguments += fragment
            self.outbox.send(
                wire.ArgumentsDelta(
                    response_id=self.id,
                    item_id=item.id,
                    output_index=self.output.index(item),
                    call_id=item.call_id,
                    delta=fragment,
                )
            )

    async def _speak(
        self, template: speech.SpeechJob, sentences: asyncio.Queue[str | None]
    ) -> None:
        """Synthesize sentences as they complete (those waiting together), send their audio."""
        output = self.config.output_format
        chunk_bytes = formats.BYTES_PER_SAMPLE[output] * formats.RATES[output] * CHUNK_MS // 1000
        instance = template.instance
        first = True
        async with contextlib.aclosing(chat_audio.spoken(template, sentences)) as pcm:
            async for data in pcm:
                if first:
                    first = False
                    seconds = time.perf_counter() - self.started
                    instance.telemetry.first_audio(instance.name, seconds)
                self.audio_ms += 1000 * len(data) / (2 * SPEECH_RATE)
                if self.sink is not None:
                    self.sink.write(self.id, data)
                    continue
                if output != "pcm16":
                    data = formats.encode(output, PcmAudio.from_pcm16(data, SPEECH_RATE))  # noqa: PLW2901
                for start in range(0, len(data), chunk_bytes):
                    delta = _b64(data[start : start + chunk_bytes])
                    self.outbox.send(wire.AudioDelta(**self._where(), delta=delta))

    # -- the end ------------------------------------------------------------------------------

    def _finish(self, status: str, details: wire.StatusDetails | None) -> None:
        done: wire.Status = "completed" if status == "completed" else "incomplete"
        for item in self.output:
            item.status = done
            if item is self.item:
                self._finish_message(item)
            elif status == "completed":
                self.outbox.send(
                    wire.ArgumentsDone(
                        response_id=self.id,
                        item_id=item.id,
                        output_index=self.output.index(item),
                        call_id=item.call_id,
                        name=item.name,
                        arguments=item.arguments,
                    )
                )
            wired = item.wire(beta=self.outbox.beta)
            self.outbox.send(
                wire.OutputItemDone(
                    response_id=self.id, output_index=self.output.index(item), item=wired
                )
            )
            self.outbox.send(wire.ItemDone(item=wired))
        self.outbox.send(wire.ResponseDone(response=self._response(status, details)))

    def _finish_message(self, item: Item) -> None:
        text = "".join(self.text)
        part = item.content[0]
        if self.audio:
            part.transcript = text
            part.audio_ms = self.audio_ms
            self.outbox.send(wire.AudioDone(**self._where()))
            self.outbox.send(wire.AudioTranscriptDone(**self._where(), transcript=text))
        else:
            part.text = text
            self.outbox.send(wire.TextDone(**self._where(), text=text))
        self.outbox.send(wire.ContentPartDone(**self._where(), part=part.part()))

    def _response(self, status: str, details: wire.StatusDetails | None = None) -> wire.Response:
        beta = self.outbox.beta
        config = self.config
        response = wire.Response(
            id=self.id,
            status=status,  # type: ignore[arg-type]
            status_details=details,
            output=[item.wire(beta=beta) for item in self.output],
            conversation_id=config.id.replace("sess_", "conv_"),
            usage=self._usage() if status != "in_progress" else None,
            metadata=self.params.get("metadata"),
            max_output_tokens=config.max_output_tokens,
        )
        if beta:
            response.modalities = ["text", "audio"] if self.audio else ["text"]
            response.output_audio_format = config.output_format
            response.voice = config.voice
        else:
            response.output_modalities = config.output_modalities
            response.audio = {
                "output": {"format": formats.GA_NAMES[config.output_format], "voice": config.voice}
            }
        return response

    def _usage(self) -> dict[str, Any]:
        upstream = self.usage or {}
        text_in = int(upstream.get("prompt_tokens") or 0)
        text_out = int(upstream.get("completion_tokens") or 0)
        audio_out = math.ceil(self.audio_ms / 20)  # 50 audio tokens per second, as whisper's
        return {
            "total_tokens": text_in + text_out + audio_out,
            "input_tokens": text_in,
            "output_tokens": text_out + audio_out,
            "input_token_details": {"text_tokens": text_in, "audio_tokens": 0, "cached_tokens": 0},
            "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
        }


def _failure(error: OpenAIError) -> wire.StatusDetails:
    return wire.StatusDetails(
        type="failed",
        error={"type": error.error_type, "code": error.code, "message": error.message},
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
