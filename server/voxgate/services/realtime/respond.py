"""One realtime response: the conversation to the upstream LLM, its answer spoken as it comes.

The chat-audio pipeline, event-shaped: text deltas go out as transcript (or text) deltas at
once, each complete sentence is synthesized while the LLM writes the next, and its audio goes
out in the session's output format in chunks of at most ``CHUNK_MS``. Cancelling (the
client's ``response.cancel`` or barge-in) stops the LLM stream and the TTS engine at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import time
from typing import TYPE_CHECKING, Any

import structlog

from voxgate.engines.audio import PcmAudio
from voxgate.errors import EngineError, OpenAIError, params_renamed
from voxgate.services import chat_audio, speech
from voxgate.services.realtime import audio as formats
from voxgate.services.realtime.events import Content, Item, new_id
from voxgate.services.sentences import SentenceBuffer
from voxgate.wire.speech import SpeechRequest

if TYPE_CHECKING:
    from voxgate.runtime import Runtime
    from voxgate.services.realtime.config import SessionConfig
    from voxgate.services.realtime.session import RealtimeSession

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


class ResponseRun:
    """A response in progress; ``cancel`` ends it with ``status: cancelled``."""

    def __init__(self, session: RealtimeSession, params: dict[str, Any]) -> None:
        self.session = session
        self.params = params
        self.id = new_id("resp")
        self.config = session.settings_for_response(params)
        self.audio = "audio" in self.config.output_modalities
        self.task: asyncio.Task[None] | None = None
        self.item: Item | None = None
        self.reason: str | None = None
        self.text: list[str] = []
        self.usage: dict[str, Any] | None = None
        self.audio_ms = 0.0
        self.started = time.perf_counter()

    def cancel(self, reason: str) -> None:
        """Stop now (idempotent)."""
        if self.reason is None:
            self.reason = reason
        if self.task is not None:
            self.task.cancel()

    # -- the run --------------------------------------------------------------------------

    async def run(self, after: Item | None) -> None:
        """The whole response, from ``response.created`` to ``response.done``."""
        session = self.session
        self.started = time.perf_counter()
        session.send("response.created", response=self._response("in_progress"))
        try:
            await self._generate(after)
        except asyncio.CancelledError:
            self._finish(
                "cancelled", {"type": "cancelled", "reason": self.reason or "client_cancelled"}
            )
            raise
        except OpenAIError as exc:
            session.send_error(exc)
            self._finish("failed", _failure(exc))
        except Exception:
            log.exception("realtime response failed")
            error = EngineError("The response failed; the server log has the details.")
            session.send_error(error)
            self._finish("failed", _failure(error))
        else:
            self._finish("completed", None)
        finally:
            session.response_finished(self)

    async def _generate(self, after: Item | None) -> None:
        session = self.session
        runtime = session.runtime
        proxy = runtime.chat_proxy(self.config.model)
        proxy.check_ready()
        template = speech_template(runtime, self.config) if self.audio else None
        await self._transcripts_ready(after)
        body = self._chat_body()
        chunks = runtime.telemetry.upstream_stream(proxy.stream(body))
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        speaker = session.spawn(self._speak(template, sentences)) if template else None
        try:
            self._open_item()
            buffer = SentenceBuffer()
            async for chunk in chunks:
                if isinstance(chunk.get("usage"), dict):
                    self.usage = chunk["usage"]
                for choice in chunk.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content")
                    if isinstance(delta, str) and delta:
                        self._text_delta(delta)
                        for sentence in buffer.feed(delta) if template else ():
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

    async def _transcripts_ready(self, after: Item | None) -> None:
        """The LLM must read every user turn: wait for pending transcriptions."""
        pending = [t for t in self.session.transcripts.values() if not t.done()]
        if after is not None and after.id in self.session.transcripts:
            pending.append(self.session.transcripts[after.id])
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def _chat_body(self) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        if self.config.instructions:
            messages.append({"role": "system", "content": self.config.instructions})
        items = self.session.items
        if self.params.get("conversation") == "none":
            items = []
        for raw in self.params.get("input") or []:
            if isinstance(raw, dict) and raw.get("role") in ("user", "assistant", "system"):
                text = " ".join(
                    str(p.get("text") or p.get("transcript") or "")
                    for p in raw.get("content") or []
                    if isinstance(p, dict)
                ).strip()
                if text:
                    messages.append({"role": raw["role"], "content": text})
        for item in items:
            text = item.text()
            if text:
                messages.append({"role": item.role, "content": text})
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "stream_options": {"include_usage": True},
        }
        if self.config.temperature is not None:
            body["temperature"] = self.config.temperature
        if isinstance(self.config.max_output_tokens, int):
            body["max_tokens"] = self.config.max_output_tokens
        return body

    # -- output events ----------------------------------------------------------------------

    def _where(self) -> dict[str, Any]:
        item = self.item
        if item is None:
            msg = "a response event before the response's item was opened"
            raise RuntimeError(msg)
        return {
            "response_id": self.id,
            "item_id": item.id,
            "output_index": 0,
            "content_index": 0,
        }

    def _open_item(self) -> None:
        session = self.session
        part = (
            Content(type="output_audio", transcript="")
            if self.audio
            else Content(type="output_text", text="")
        )
        item = Item(role="assistant", content=[part], status="in_progress")
        previous = session.items[-1].id if session.items else None
        if self.params.get("conversation") != "none":
            session.items.append(item)
        self.item = item
        session.send(
            "response.output_item.added",
            response_id=self.id,
            output_index=0,
            item=item.wire(beta=session.beta),
        )
        session.send(
            "conversation.item.added", item=item.wire(beta=session.beta), previous_item_id=previous
        )
        session.send(
            "response.content_part.added", **self._where(), part=part.wire(beta=session.beta)
        )

    def _text_delta(self, delta: str) -> None:
        self.text.append(delta)
        name = (
            "response.output_audio_transcript.delta" if self.audio else "response.output_text.delta"
        )
        self.session.send(name, **self._where(), delta=delta)

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
                if output != "pcm16":
                    data = formats.encode(output, PcmAudio.from_pcm16(data, SPEECH_RATE))  # noqa: PLW2901
                for start in range(0, len(data), chunk_bytes):
                    self.session.send(
                        "response.output_audio.delta",
                        **self._where(),
                        delta=_b64(data[start : start + chunk_bytes]),
                    )

    def _finish(self, status: str, details: dict[str, Any] | None) -> None:
        session = self.session
        item = self.item
        if item is not None:
            text = "".join(self.text)
            part = item.content[0]
            if self.audio:
                part.transcript = text
                part.audio_ms = self.audio_ms
                session.send("response.output_audio.done", **self._where())
                session.send(
                    "response.output_audio_transcript.done", **self._where(), transcript=text
                )
            else:
                part.text = text
                session.send("response.output_text.done", **self._where(), text=text)
            item.status = "completed" if status == "completed" else "incomplete"
            session.send(
                "response.content_part.done", **self._where(), part=part.wire(beta=session.beta)
            )
            session.send(
                "response.output_item.done",
                response_id=self.id,
                output_index=0,
                item=item.wire(beta=session.beta),
            )
            session.send("conversation.item.done", item=item.wire(beta=session.beta))
        session.send("response.done", response=self._response(status, details))

    def _response(self, status: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
        session = self.session
        output = [self.item.wire(beta=session.beta)] if self.item is not None else []
        response: dict[str, Any] = {
            "id": self.id,
            "object": "realtime.response",
            "status": status,
            "status_details": details,
            "output": output,
            "conversation_id": session.config.id.replace("sess_", "conv_"),
            "usage": self._usage() if status != "in_progress" else None,
            "metadata": self.params.get("metadata"),
            "max_output_tokens": self.config.max_output_tokens,
        }
        audio_output = {
            "format": formats.GA_NAMES[self.config.output_format],
            "voice": self.config.voice,
        }
        if session.beta:
            response["modalities"] = ["text", "audio"] if self.audio else ["text"]
            response["output_audio_format"] = self.config.output_format
            response["voice"] = self.config.voice
        else:
            response["output_modalities"] = self.config.output_modalities
            response["audio"] = {"output": audio_output}
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


def _failure(error: OpenAIError) -> dict[str, Any]:
    return {
        "type": "failed",
        "error": {"type": error.error_type, "code": error.code, "message": error.message},
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
