"""Streamed chat completions: the upstream's chunks, with the reply spoken as it is written.

Without audio output the upstream's chunks pass through unchanged. With it, text deltas are
sent as ``delta.audio.transcript``; each sentence is synthesized as soon as it is complete,
while the upstream is still writing the next, and its 24 kHz pcm16 goes out as
``delta.audio.data`` chunks. When a choice's audio is done, a chunk carrying the audio ``id``
and ``expires_at`` closes it, then the choice's ``finish_reason``; the usage chunk (if the
upstream sent one) and ``[DONE]`` come last.

Everything else in a delta (``role``, ``tool_calls``, …) is relayed as it comes. A choice gets
its audio id with its first text that is not only whitespace: one that only calls tools has
no ``delta.audio`` at all, not even the closing chunk, and the TTS engine is never asked.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from voxgate.errors import sse_error_event
from voxgate.services.chat_audio import (
    ChatMemory,
    close_chunks,
    engine_failure,
    memory,
    spoken,
)
from voxgate.services.sentences import SentenceBuffer
from voxgate.wire.chat import DONE_FRAME, sse_frame

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from voxgate.runtime import Runtime
    from voxgate.services.speech import SpeechJob

log = structlog.get_logger("voxgate.chat")

FRAME_BYTES = 2 * 24_000  # one second of 24 kHz pcm16 per audio delta at most
CHUNK_FIELDS = ("id", "object", "created", "model", "system_fingerprint", "service_tier")


async def passthrough(
    first: dict[str, Any] | None, chunks: AsyncIterator[Any]
) -> AsyncIterator[bytes]:
    """The upstream's chunks as they come (input audio was already replaced by text)."""
    try:
        if first is not None:
            yield sse_frame(first)
            async for chunk in chunks:
                yield sse_frame(chunk)
        yield DONE_FRAME
    except Exception as exc:  # noqa: BLE001 - the status line is gone: an SSE error event
        yield sse_error_event(engine_failure(exc))
    finally:
        await close_chunks(chunks)


async def with_audio(
    runtime: Runtime,
    template: SpeechJob,
    first: dict[str, Any] | None,
    chunks: AsyncIterator[Any],
) -> AsyncIterator[bytes]:
    """The chunks rewritten for audio output, spoken as ``template`` says, audio interleaved."""
    frames: asyncio.Queue[bytes | None] = asyncio.Queue()
    relay = _Relay(runtime, template, frames)
    pump = asyncio.create_task(relay.run(first, chunks))
    try:
        while (frame := await frames.get()) is not None:
            yield frame
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        await close_chunks(chunks)


@dataclass
class _Choice:
    """One choice being spoken: its text so far and the sentences waiting for the engine."""

    index: int
    audio_id: str | None = None  # set by the first text worth speaking
    expires_at: int = 0
    pending: str = ""  # leading whitespace, held until there is something to say
    sentences: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    buffer: SentenceBuffer = field(default_factory=SentenceBuffer)
    text: list[str] = field(default_factory=list)
    finish: dict[str, Any] | None = None
    closed: bool = False
    task: asyncio.Task[None] | None = None

    def feed(self, delta: str) -> None:
        self.text.append(delta)
        for sentence in self.buffer.feed(delta):
            self.sentences.put_nowait(sentence)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for sentence in self.buffer.flush():
                self.sentences.put_nowait(sentence)
            self.sentences.put_nowait(None)


class _Relay:
    """Reads the upstream, feeds each choice's speaker, and queues every outgoing frame."""

    def __init__(
        self, runtime: Runtime, template: SpeechJob, frames: asyncio.Queue[bytes | None]
    ) -> None:
        self.template = template
        self.memory: ChatMemory = memory(runtime)
        self.frames = frames
        self.choices: dict[int, _Choice] = {}
        self.envelope: dict[str, Any] = {"object": "chat.completion.chunk"}
        self.usage: list[dict[str, Any]] = []

    async def run(self, first: dict[str, Any] | None, chunks: AsyncIterator[Any]) -> None:
        try:
            if first is not None:
                self._take(first)
                async for chunk in chunks:
                    self._take(chunk)
            for choice in self.choices.values():
                choice.close()
            await asyncio.gather(*(c.task for c in self.choices.values() if c.task))
            for usage in self.usage:
                self._send({**self.envelope, "choices": [], "usage": usage})
            self.frames.put_nowait(DONE_FRAME)
        except Exception as exc:  # noqa: BLE001 - reported to the client as an SSE error
            self.frames.put_nowait(sse_error_event(engine_failure(exc)))
        finally:
            for choice in self.choices.values():
                if choice.task is not None and not choice.task.done():
                    choice.task.cancel()
            await asyncio.gather(
                *(c.task for c in self.choices.values() if c.task), return_exceptions=True
            )
            self.frames.put_nowait(None)

    def _take(self, chunk: dict[str, Any]) -> None:
        """Rewrite one upstream chunk: text to transcript deltas; hold finish and usage."""
        self.envelope.update({k: chunk[k] for k in CHUNK_FIELDS if k in chunk})
        usage = chunk.pop("usage", None)
        if isinstance(usage, dict):
            self.usage = [usage]
        out: list[dict[str, Any]] = []
        for raw in chunk.get("choices") or []:
            if not isinstance(raw, dict):
                continue
            choice = self._choice(int(raw.get("index", 0)))
            delta = dict(raw.get("delta") or {})
            text = delta.pop("content", None)
            said = self._said(choice, text) if isinstance(text, str) else None
            if said:
                delta["audio"] = {"id": choice.audio_id, "transcript": said}
            finish = raw.get("finish_reason")
            if finish is not None:
                choice.finish = {**raw, "delta": {}}
                choice.close()
            if delta:
                out.append({**raw, "delta": delta, "finish_reason": None})
        if out:
            self._send({**chunk, "choices": out})

    def _said(self, choice: _Choice, text: str) -> str | None:
        """The transcript delta for ``text``: none until the choice has words to speak."""
        if choice.audio_id is None:
            if not text.strip():
                choice.pending += text
                return None
            text, choice.pending = choice.pending + text, ""
            choice.audio_id, choice.expires_at = self.memory.new_reply_id()
        choice.feed(text)
        return text

    def _choice(self, index: int) -> _Choice:
        choice = self.choices.get(index)
        if choice is None:
            choice = _Choice(index=index)
            choice.task = asyncio.create_task(self._speak(choice))
            self.choices[index] = choice
        return choice

    async def _speak(self, choice: _Choice) -> None:
        """Speak the choice's sentences as they complete, then close its audio (if it has any)."""
        audio = spoken(self.template, choice.sentences)
        async with contextlib.aclosing(audio) as pcm:
            async for data in pcm:
                for start in range(0, len(data), FRAME_BYTES):
                    frame = base64.b64encode(data[start : start + FRAME_BYTES]).decode()
                    self._send_delta(choice, {"id": choice.audio_id, "data": frame})
        if choice.audio_id is not None:
            # saved before `expires_at` is sent: a client that has it can refer to the id
            await self.memory.save_reply(choice.audio_id, "".join(choice.text), choice.expires_at)
            self._send_delta(choice, {"id": choice.audio_id, "expires_at": choice.expires_at})
        if choice.finish is not None:
            self._send({**self.envelope, "choices": [choice.finish]})

    def _send_delta(self, choice: _Choice, audio: dict[str, Any]) -> None:
        delta = {"index": choice.index, "delta": {"audio": audio}, "finish_reason": None}
        self._send({**self.envelope, "choices": [delta]})

    def _send(self, chunk: dict[str, Any]) -> None:
        self.frames.put_nowait(sse_frame(chunk))
