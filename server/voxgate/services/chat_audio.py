"""Chat completions with audio: transcribe input audio, ask the upstream LLM, speak its answer.

The upstream only ever sees text: every ``input_audio`` part becomes a text part holding its
transcript, an assistant message that points at an earlier spoken reply gets that reply's
transcript, and the audio fields are taken out. Everything else in the body passes through.

Transcripts of input audio are cached by content hash, so each turn of a long conversation
transcribes only its new audio; they and the reply ids live in the shared state store
(``voxgate.state``), so any replica behind a load balancer resolves what another one made.
Validation (body, models, voice, the audio itself, the upstream's own answer, whether the
state store is reachable when the request needs it) all happens before the response starts.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from voxgate.engines.base import AudioDecodeError, ChatProxy, SttEngine
from voxgate.errors import (
    EngineError,
    InvalidRequestError,
    OpenAIError,
    convert_request,
    params_renamed,
)
from voxgate.services import speech
from voxgate.services import transcription as stt
from voxgate.state import MAX_KEY_LENGTH, StateUnavailableError
from voxgate.wire.chat import (
    AUDIO_FIELDS,
    EXTENSION_FIELDS,
    SPEECH_FORMATS,
    AudioReference,
    ChatRequest,
    InputAudio,
    MessageAudio,
)
from voxgate.wire.speech import SpeechRequest
from voxgate.wire.transcription import TranscriptionRequest

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Sequence

    from voxgate.engines.pool import EngineInstance
    from voxgate.runtime import Runtime
    from voxgate.state import StateStore

log = structlog.get_logger("voxgate.chat")

AUDIO_TTL_SECONDS = 3600  # how long a reply's audio id can be referred to, as OpenAI's
TRANSCRIPT_TTL_SECONDS = 24 * 3600  # a conversation's earlier input audio, sent again each turn
TRANSCRIPTS = "chat.transcripts"  # state namespaces
REPLIES = "chat.replies"
MAX_AUDIO_CHOICES = 8  # every choice is synthesized: bound the work one request can ask for
WAV_HEADER_BYTES = 44  # the transcoder's one streaming header: RIFF, fmt, data


class ChatMemory:
    """What chat remembers between requests, in the shared state store (so on every replica).

    Transcripts of input audio by content hash, and the transcript of each spoken reply by its
    audio id, each with an expiry. Every method may raise ``StateUnavailableError`` (503).
    """

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.transcribed = 0  # input audio parts this process actually transcribed (tests)

    async def transcript(self, key: str) -> str | None:
        """A cached transcript of input audio."""
        value = await self.store.get(TRANSCRIPTS, key)
        return value.decode() if value is not None else None

    async def remember_transcript(self, key: str, text: str) -> None:
        """Cache the transcript of input audio."""
        await self.store.set(TRANSCRIPTS, key, text.encode(), ttl=TRANSCRIPT_TTL_SECONDS)

    @staticmethod
    def new_reply_id() -> tuple[str, int]:
        """An id and expiry for a spoken reply; ``save_reply`` makes it resolvable."""
        return f"audio_{secrets.token_hex(12)}", int(time.time()) + AUDIO_TTL_SECONDS

    async def save_reply(self, audio_id: str, transcript: str, expires_at: int) -> None:
        """Remember a reply's transcript under its id until ``expires_at``."""
        ttl = expires_at - time.time()
        if ttl > 0:
            await self.store.set(REPLIES, audio_id, transcript.encode(), ttl=ttl)

    async def reply_transcript(self, audio_id: str) -> str | None:
        """The transcript of a spoken reply that has not expired."""
        if not audio_id or len(audio_id) > MAX_KEY_LENGTH:
            return None
        value = await self.store.get(REPLIES, audio_id)
        return value.decode() if value is not None else None


def memory(runtime: Runtime) -> ChatMemory:
    """This app's chat memory."""
    found = runtime.state.get("chat_memory")
    if not isinstance(found, ChatMemory):
        found = runtime.state["chat_memory"] = ChatMemory(runtime.state_store)
    return found


@dataclass(frozen=True)
class AudioPart:
    """An ``input_audio`` content part, where it sits and its decoded bytes."""

    message: int
    part: int
    data: bytes

    @property
    def param(self) -> str:
        """The part's path in the request, for error ``param``s."""
        return f"messages[{self.message}].content[{self.part}].input_audio"


@dataclass(frozen=True)
class ReplyReference:
    """An assistant message that points at an earlier spoken reply by its audio id."""

    message: int
    audio_id: str

    @property
    def param(self) -> str:
        """The id's path in the request, for error ``param``s."""
        return f"messages[{self.message}].audio.id"


@dataclass(frozen=True)
class ChatJob:
    """A validated chat request: the proxy, the body to forward, and how to speak the reply."""

    request: ChatRequest
    proxy: ChatProxy
    body: dict[str, Any]
    audio_parts: list[AudioPart]
    replies: list[ReplyReference]
    stt_instance: EngineInstance[SttEngine] | None
    speech: speech.SpeechJob | None  # a template: ``texts`` is filled per reply

    @property
    def stream(self) -> bool:
        """The client asked for SSE chunks."""
        return bool(self.request.stream)

    @property
    def needs_state(self) -> bool:
        """It reads or writes chat memory: input audio, spoken replies, or earlier ones."""
        return bool(self.audio_parts or self.replies or self.speech is not None)


def plan(runtime: Runtime, raw: dict[str, Any]) -> ChatJob:
    """Check everything that needs no engine and no upstream; build the body to forward."""
    request = convert_request(raw, ChatRequest)
    proxy = runtime.chat_proxy(request.model)
    proxy.check_ready()
    speech_job = _speech_template(runtime, request) if request.wants_audio else None
    if speech_job is not None and (request.n or 1) > MAX_AUDIO_CHOICES:
        raise InvalidRequestError(
            f"With audio output, `n` can be at most {MAX_AUDIO_CHOICES} on this server.",
            param="n",
        )
    messages, parts, replies = _messages(request.messages)
    stt_instance = None
    if parts:
        with params_renamed({"model": "transcription_model"}):
            stt_instance = runtime.stt_engine(request.transcription_model)
    body = {
        key: value
        for key, value in raw.items()
        if key not in EXTENSION_FIELDS and key not in AUDIO_FIELDS
    }
    body["messages"] = messages
    job = ChatJob(
        request=request,
        proxy=proxy,
        body=body,
        audio_parts=parts,
        replies=replies,
        stt_instance=stt_instance,
        speech=speech_job,
    )
    problem = runtime.state_store.problem
    if job.needs_state and problem is not None:  # before any engine or upstream work
        raise StateUnavailableError
    return job


def _speech_template(runtime: Runtime, request: ChatRequest) -> speech.SpeechJob:
    """The speech model, voice and format, checked as ``/v1/audio/speech`` checks them."""
    audio = request.audio
    if audio is None:
        raise InvalidRequestError(
            'Audio output needs `audio: {"voice": …, "format": …}` alongside `modalities`.',
            param="audio",
        )
    # a stream carries 24 kHz pcm16 whatever the format asked (as OpenAI's does)
    response_format = "pcm" if request.stream else SPEECH_FORMATS[audio.format]
    template = SpeechRequest(
        model=request.speech_model,
        input=".",
        voice=audio.voice,
        response_format=response_format,  # type: ignore[arg-type]
    )
    renames = {"model": "speech_model", "voice": "audio.voice", "response_format": "audio.format"}
    with params_renamed(renames):
        return speech.plan_voice(runtime, template)


def _messages(
    messages: Sequence[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[AudioPart], list[ReplyReference]]:
    """Messages without audio fields, the audio to transcribe, and the replies to resolve."""
    out: list[dict[str, Any]] = []
    parts: list[AudioPart] = []
    replies: list[ReplyReference] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequestError("Each message must be an object.", param=f"messages[{index}]")
        message = dict(message)  # noqa: PLW2901 - a copy: the client's body is not edited
        audio = message.pop("audio", None)  # `null`, as the SDK's stream helper leaves it: none
        if audio is not None:
            replies.append(_reply_reference(index, audio))
        content = message.get("content")
        if isinstance(content, list):
            for part_index, part in enumerate(content):
                if isinstance(part, dict) and part.get("type") == "input_audio":
                    parts.append(_audio_part(index, part_index, part))
        out.append(message)
    return out, parts, replies


def _reply_reference(index: int, audio: object) -> ReplyReference:
    try:
        reference = msgspec.convert(audio, AudioReference)
    except msgspec.ValidationError:
        raise InvalidRequestError(
            'An assistant message\'s `audio` must be `{"id": "<audio id>"}`.',
            param=f"messages[{index}].audio",
        ) from None
    return ReplyReference(message=index, audio_id=reference.id)


async def _resolve_reply(
    cache: ChatMemory, reference: ReplyReference, message: dict[str, Any]
) -> dict[str, Any]:
    """``{"role": "assistant", "audio": {"id"}}`` -> the reply's transcript as its content.

    The reference itself never goes upstream; ``tool_calls`` beside it are kept as they are.
    """
    transcript = await cache.reply_transcript(reference.audio_id)
    if transcript is not None:
        if not message.get("content"):
            return {**message, "content": transcript}
        return message
    if message.get("content") or message.get("tool_calls"):
        return message  # the client kept the text, or the turn was its tool calls: no loss
    raise InvalidRequestError(
        f"Audio `{reference.audio_id}` is unknown or has expired; send the reply's transcript "
        "as the message `content` instead.",
        param=reference.param,
    )


def _audio_part(index: int, part_index: int, part: dict[str, Any]) -> AudioPart:
    where = f"messages[{index}].content[{part_index}].input_audio"
    try:
        audio = msgspec.convert(part.get("input_audio"), InputAudio)
        data = base64.b64decode(audio.data, validate=True)
    except (msgspec.ValidationError, binascii.Error):
        raise InvalidRequestError(
            '`input_audio` must be `{"data": "<base64 audio>", "format": "wav" | "mp3"}`.',
            param=where,
        ) from None
    if not data:
        raise InvalidRequestError("The input audio is empty.", param=where)
    return AudioPart(message=index, part=part_index, data=data)


async def check_speech(job: ChatJob) -> None:
    """Ask the TTS engine whether it can use the voice, before the upstream is asked."""
    if job.speech is not None:
        with params_renamed({"voice": "audio.voice"}):
            await speech.check_voice(job.speech)


# -- input audio --------------------------------------------------------------------------


async def forwarded_body(runtime: Runtime, job: ChatJob) -> dict[str, Any]:
    """The body for the upstream: earlier spoken replies and input audio as their text."""
    if not job.replies and not job.audio_parts:
        return job.body
    cache = memory(runtime)
    messages = [dict(message) for message in job.body["messages"]]
    for reference in job.replies:
        messages[reference.message] = await _resolve_reply(
            cache, reference, messages[reference.message]
        )
    instance = job.stt_instance  # plan() resolves one exactly when there are audio parts
    if instance is not None and job.audio_parts:
        transcripts = await asyncio.gather(
            *(_transcript(runtime, instance, job, part) for part in job.audio_parts)
        )
        for part, text in zip(job.audio_parts, transcripts, strict=True):
            content = list(messages[part.message]["content"])
            content[part.part] = {"type": "text", "text": text}
            messages[part.message]["content"] = content
    return {**job.body, "messages": messages}


async def _transcript(
    runtime: Runtime, instance: EngineInstance[SttEngine], job: ChatJob, part: AudioPart
) -> str:
    key = hashlib.sha256(instance.name.encode() + b"\0" + part.data).hexdigest()
    cache = memory(runtime)
    cached = await cache.transcript(key)
    if cached is not None:
        return cached
    if runtime.transcoder is None:
        raise InvalidRequestError(
            "This server has no audio decoder (the `pyav` transcoder is disabled).",
            param=part.param,
        )
    try:  # probed now, decoded as the engine reads it (see services.transcription)
        with runtime.telemetry.decoding():
            audio = await asyncio.to_thread(
                runtime.transcoder.open, part.data, instance.engine_class.sample_rate
            )
    except AudioDecodeError as exc:
        raise InvalidRequestError(f"{exc}", param=part.param) from None
    if audio.expected_seconds == 0:
        audio.close()
        raise InvalidRequestError("The input audio contains no audio.", param=part.param)
    stt_job = stt.plan(TranscriptionRequest(model=job.request.transcription_model), {})
    stream = await stt.open_segments(instance, stt_job, audio, runtime.decoded_audio)
    try:
        segments = await stt.collect(stream)
    except InvalidRequestError as exc:
        if exc.param != "file":
            raise
        # found while decoding: name the audio part, as a probe failure does
        raise InvalidRequestError(exc.message, param=part.param, code=exc.code) from None
    text = stt.joined_text(segments)
    await cache.remember_transcript(key, text)
    cache.transcribed += 1
    return text


# -- spoken replies -------------------------------------------------------------------------


def speech_job(template: speech.SpeechJob, text: str, *, opening: bool) -> speech.SpeechJob:
    """The template filled with a reply's text; ``opening``: its first clause goes alone."""
    request = msgspec.structs.replace(template.request, input=text)
    return dataclasses.replace(
        template, request=request, texts=speech.speakable_pieces(text, opening=opening)
    )


async def speak(template: speech.SpeechJob, text: str) -> bytes:
    """A whole reply, encoded in the requested format.

    Nothing is sent before the whole reply is spoken, so no first clause is cut off: the
    reply is said in big pieces only.
    """
    job = speech_job(template, text, opening=False)
    if not job.texts:
        return b""
    async with contextlib.aclosing(speech.encoded_pieces(job)) as encoded:
        data = b"".join([data async for data in encoded])
    if job.request.response_format == "wav":
        return _sized_wav(data)
    return data


def _sized_wav(data: bytes) -> bytes:
    """The streaming WAV header (sizes unknown) given the real sizes: the reply is whole."""
    if len(data) < WAV_HEADER_BYTES or not data.startswith(b"RIFF"):
        return data
    sizes = bytearray(data[:WAV_HEADER_BYTES])
    sizes[4:8] = (len(data) - 8).to_bytes(4, "little")
    sizes[40:44] = (len(data) - WAV_HEADER_BYTES).to_bytes(4, "little")
    return bytes(sizes) + data[WAV_HEADER_BYTES:]


async def spoken(
    template: speech.SpeechJob, sentences: asyncio.Queue[str | None]
) -> AsyncGenerator[bytes, None]:
    """Encoded audio for sentences as they arrive (an LLM's stream), until ``None``.

    The first item is said alone: from a ``SentenceBuffer`` it is the reply's first clause
    (``FIRST_CLAUSE``), so the first audio waits only for it. Sentences that wait while the
    engine speaks go to it together: a fast LLM costs one synthesis per batch, not one per
    sentence.
    """
    done = False
    first = True
    while not done:
        batch: list[str] = []
        sentence = await sentences.get()
        while sentence is not None:
            batch.append(sentence)
            if first or sentences.empty():
                break
            sentence = sentences.get_nowait()
        done = sentence is None
        first = False
        job = speech_job(template, " ".join(batch), opening=False)
        if not job.texts:
            continue
        async with contextlib.aclosing(speech.encoded_pieces(job)) as audio:
            async for data in audio:
                yield data


async def close_chunks(chunks: AsyncIterator[Any]) -> None:
    """Close a chat proxy's chunk stream (and so its upstream response), if it can close."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


async def add_audio(runtime: Runtime, job: ChatJob, reply: dict[str, Any]) -> dict[str, Any]:
    """Speak every choice's message: ``message.audio`` filled and ``content`` null, as OpenAI."""
    template = job.speech
    if template is None:
        return reply
    choices = reply.get("choices")
    messages = [
        choice["message"]
        for choice in (choices if isinstance(choices, list) else [])
        if isinstance(choice, dict) and isinstance(choice.get("message"), dict)
    ]
    spoken = [m for m in messages if isinstance(m.get("content"), str) and m["content"].strip()]
    audio = await asyncio.gather(*(speak(template, m["content"]) for m in spoken))
    cache = memory(runtime)
    for message, data in zip(spoken, audio, strict=True):
        transcript = message["content"]
        audio_id, expires_at = cache.new_reply_id()
        await cache.save_reply(audio_id, transcript, expires_at)
        message["audio"] = msgspec.to_builtins(
            MessageAudio(
                id=audio_id,
                data=base64.b64encode(data).decode(),
                expires_at=expires_at,
                transcript=transcript,
            )
        )
        message["content"] = None
    return reply


def engine_failure(exc: Exception) -> OpenAIError:
    """What a client is told about an unexpected failure (the log has the details)."""
    if isinstance(exc, OpenAIError):
        return exc
    log.error("chat failed", exc_info=exc)
    return EngineError("Chat failed; the server log has the details.")
