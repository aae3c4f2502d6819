"""One OpenAI Realtime session: its configuration, input audio, turns, items and responses.

Framework-free: the WebSocket handler feeds client events to ``handle`` and sends whatever
the session puts in ``outbox``. Handlers return quickly; transcriptions and responses run
as tasks, and ``close`` cancels them all, so a closed socket frees everything it held.

Turns: with ``server_vad`` the session runs Silero on the incoming audio and commits each
utterance when the silence after it lasts ``silence_duration_ms``; with ``turn_detection:
null`` the client commits. A commit becomes a user item, which is transcribed; in a
conversation session a VAD commit then starts a response (``create_response``), and speech
starting during a response cancels it (``interrupt_response``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from typing import TYPE_CHECKING, Any, assert_never

import msgspec
import structlog

from voxgate.errors import EngineError, InvalidRequestError, OpenAIError, params_renamed
from voxgate.services import speech, transcription
from voxgate.services.realtime import audio as formats
from voxgate.services.realtime import config as session_config
from voxgate.services.realtime import stt
from voxgate.services.realtime.buffer import AudioBuffer
from voxgate.services.realtime.conversation import Conversation, item_from_wire
from voxgate.services.realtime.events import Content, Item, new_id
from voxgate.services.realtime.outbox import Outbox, failure
from voxgate.services.realtime.respond import AudioSink, ResponseRun, speech_template
from voxgate.services.realtime.speakers import SpeakerMemory
from voxgate.services.realtime.vad import VAD_RATE, SpeechStarted, TurnDetector
from voxgate.wire import realtime as wire
from voxgate.wire import realtime_events as events
from voxgate.wire.decoding import decode_json

if TYPE_CHECKING:
    from voxgate.engines.audio import PcmAudio
    from voxgate.engines.base import Segment
    from voxgate.runtime import Runtime
    from voxgate.services.realtime.config import SessionConfig, SessionKind
    from voxgate.wire.transcription import DiarizedSegment

log = structlog.get_logger("voxgate.realtime")

MIN_COMMIT_MS = 100
BUFFER_LIMIT_SECONDS = 15 * 60


async def check_config(runtime: Runtime, config: SessionConfig) -> None:
    """Models and voice exist and fit, before a session takes the configuration."""
    with params_renamed({"model": "session.audio.input.transcription.model"}):
        runtime.stt_engine(config.stt_model)
    if config.kind == "realtime" and "audio" in config.output_modalities:
        await speech.check_voice(speech_template(runtime, config))


class RealtimeSession:
    """State and behaviour of one connection."""

    def __init__(self, runtime: Runtime, *, kind: SessionKind, model: str, beta: bool) -> None:
        self.runtime = runtime
        self.beta = beta
        self.config: SessionConfig = session_config.initial(kind, model)
        self.outbox = Outbox(beta=beta)
        self.conversation = Conversation()
        self.response: ResponseRun | None = None
        self._buffer = AudioBuffer(self.config.input_rate, BUFFER_LIMIT_SECONDS)
        self._detector: TurnDetector | None = None
        self._speech_item: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._speaker_memory: SpeakerMemory | None = None
        self.audio_sink: AudioSink | None = None  # WebRTC: answers go to the track, not events

    # -- plumbing -----------------------------------------------------------------------

    def send(self, event: events.ServerEvent) -> None:
        """Queue a server event (dropped when the protocol has no such event)."""
        self.outbox.send(event)

    def send_error(self, error: OpenAIError, client_event_id: str | None = None) -> None:
        """Queue an ``error`` event; the session goes on."""
        self.outbox.error(error, client_event_id)

    def spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        """A task the session owns (cancelled by ``close``)."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def preset(self, session: dict[str, Any]) -> None:
        """Start from a client secret's session configuration (checked when it was minted)."""
        self.config = session_config.apply_update(self.config, session)
        self._buffer = AudioBuffer(self.config.input_rate, BUFFER_LIMIT_SECONDS)

    def start(self) -> None:
        """The first event: the session as it is."""
        self._reset_turns()
        session = self.session_object()
        if self.beta and self.config.kind == "transcription":
            self.send(events.TranscriptionSessionCreated(session=session))
        else:
            self.send(events.SessionCreated(session=session))

    @property
    def busy(self) -> bool:
        """Work still running (transcriptions, a response)."""
        return any(not task.done() for task in self._tasks)

    async def close(self) -> None:
        """Cancel every task; called when the socket goes away."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def session_object(self) -> dict[str, Any]:
        """The session, in the client's protocol."""
        return session_config.render(self.config, beta=self.beta)

    # -- client events ------------------------------------------------------------------

    async def receive(self, text: str | bytes) -> None:
        """Decode one client frame and handle it; every problem becomes an ``error`` event."""
        try:
            event = wire.decode_client_event(text)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            self.send_error(_invalid_event(text, exc))
            return
        try:
            await self.handle(event)
        except OpenAIError as exc:
            self.send_error(exc, event.event_id)
        except Exception:
            log.exception("realtime event failed", type=type(event).__name__)
            self.send_error(
                EngineError("The event failed; the server log has the details."), event.event_id
            )

    async def handle(self, event: wire.ClientEvent) -> None:  # noqa: C901
        """Dispatch one decoded client event."""
        match event:
            case (
                wire.SessionUpdate(session=session)
                | wire.TranscriptionSessionUpdate(session=session)
            ):
                await self._update(
                    session, beta_name=isinstance(event, wire.TranscriptionSessionUpdate)
                )
            case wire.InputAudioBufferAppend(audio=data):
                await self._append(data)
            case wire.InputAudioBufferCommit():
                self._commit_manual()
            case wire.InputAudioBufferClear():
                self._buffer.clear()
                self._reset_turns()
                self.send(events.BufferCleared())
            case wire.OutputAudioBufferClear():
                self._clear_output()
            case wire.ConversationItemCreate(item=item, previous_item_id=previous):
                self._create_item(item, previous)
            case wire.ConversationItemDelete(item_id=item_id):
                self.conversation.delete(item_id)
                self.send(events.ItemDeleted(item_id=item_id))
            case wire.ConversationItemRetrieve(item_id=item_id):
                found = self.conversation.find(item_id)
                self.send(events.ItemRetrieved(item=found.wire(beta=self.beta)))
            case wire.ConversationItemTruncate():
                self._truncate(event)
            case wire.ResponseCreate(response=params):
                self.create_response(params or {})
            case wire.ResponseCancel(response_id=response_id):
                self._cancel(response_id)
            case _:  # the type checker proves every client event type has its case
                assert_never(event)

    def _clear_output(self) -> None:
        """WebRTC: drop the answer audio not yet played (over WebSocket the client holds it)."""
        if self.audio_sink is not None:
            self.audio_sink.clear()

    async def _update(self, session: dict[str, Any], *, beta_name: bool) -> None:
        config = session_config.apply_update(self.config, session)
        kind = session.get("type")
        if kind is not None and kind != config.kind:
            raise InvalidRequestError(
                f"This is a `{config.kind}` session; it cannot become `{kind}` (connect with "
                "`?intent=transcription` for a transcription session).",
                param="session.type",
            )
        await self._check(config)
        format_changed = config.input_format != self.config.input_format
        turns_changed = config.turn_detection != self.config.turn_detection
        self.config = config
        if format_changed:
            self._buffer = AudioBuffer(config.input_rate, BUFFER_LIMIT_SECONDS)
        if format_changed or turns_changed:
            self._reset_turns()
        if beta_name:
            self.send(events.TranscriptionSessionUpdated(session=self.session_object()))
        else:
            self.send(events.SessionUpdated(session=self.session_object()))

    async def _check(self, config: SessionConfig) -> None:
        await check_config(self.runtime, config)

    def _reset_turns(self) -> None:
        turns = self.config.turn_detection
        self._detector = TurnDetector(turns.settings) if turns is not None else None
        self._speech_item = None

    # -- input audio --------------------------------------------------------------------

    async def _append(self, data: str) -> None:
        try:
            raw = base64.b64decode(data, validate=True)
        except binascii.Error:
            raise InvalidRequestError(
                "`audio` is not valid base64.", param="audio", code="invalid_base64"
            ) from None
        await self.feed_audio(self._decode(raw, "audio"))

    async def feed_audio(self, audio: PcmAudio) -> None:
        """Input audio at any rate (WebRTC's decoded track, or an append): buffer, detect turns."""
        audio = audio.resample(self.config.input_rate)
        if self._buffer.full(len(audio)):
            raise InvalidRequestError(
                "The input audio buffer holds 15 minutes of audio: commit or clear it.",
                param="audio",
                code="input_audio_buffer_full",
            )
        self._buffer.append(audio.samples)
        detector = self._detector
        if detector is None:
            return
        samples = audio.resample(VAD_RATE).samples
        for turn in await asyncio.to_thread(detector.feed, samples):
            if isinstance(turn, SpeechStarted):
                self._speech_started(turn)
            else:
                self._speech_stopped(turn.audio_end_ms)
        if not detector.in_speech:
            padding = (
                self.config.turn_detection.prefix_padding_ms if self.config.turn_detection else 0
            )
            self._buffer.drop_before(detector.position_ms - padding)

    def _decode(self, data: bytes, param: str) -> Any:
        """Wire bytes in the input format; pcm16 must be whole 16-bit samples."""
        audio_format = self.config.input_format
        if len(data) % formats.BYTES_PER_SAMPLE[audio_format]:
            raise InvalidRequestError(
                "pcm16 audio is whole 16-bit samples: send an even number of bytes.",
                param=param,
                code="invalid_audio",
            )
        return formats.decode(audio_format, data)

    def _speech_started(self, turn: SpeechStarted) -> None:
        self._speech_item = new_id("item")
        self._buffer.drop_before(turn.audio_start_ms)
        self.send(
            events.SpeechStarted(item_id=self._speech_item, audio_start_ms=turn.audio_start_ms)
        )
        turns = self.config.turn_detection
        if self.response is not None and turns is not None and turns.interrupt_response:
            self.response.cancel("turn_detected")

    def _speech_stopped(self, audio_end_ms: int) -> None:
        item_id = self._speech_item or new_id("item")
        self._speech_item = None
        self.send(events.SpeechStopped(item_id=item_id, audio_end_ms=audio_end_ms))
        audio = self._buffer.take(audio_end_ms)
        item = self._commit(audio, item_id)
        turns = self.config.turn_detection
        if self.config.kind != "realtime" or turns is None or not turns.create_response:
            return
        if self.response is None:
            self.create_response({})
        else:  # the user spoke during an answer that was not interrupted: it stays in the items
            log.info("turn committed during a response", item=item.id, response=self.response.id)

    def _commit_manual(self) -> None:
        if self._buffer.buffered_ms < MIN_COMMIT_MS:
            raise InvalidRequestError(
                f"Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has "
                f"{self._buffer.buffered_ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        item_id = self._speech_item
        self._reset_turns()
        self._commit(self._buffer.take(), item_id)

    def _commit(self, audio: Any, item_id: str | None) -> Item:
        item = Item(role="user", content=[Content(type="input_audio")])
        if item_id is not None:
            item.id = item_id
        previous = self.conversation.last_id()
        self.conversation.add(item)
        self.send(events.BufferCommitted(item_id=item.id, previous_item_id=previous))
        self.send(events.ItemAdded(item=item.wire(beta=self.beta), previous_item_id=previous))
        self.conversation.transcripts[item.id] = self.spawn(self._transcribe(item, audio))
        return item

    async def _transcribe(self, item: Item, audio: Any) -> str | None:
        """Transcribe a committed turn; events only where the client asked for them."""
        content = item.content[0]
        announce = self.config.transcription is not None
        settings = self.config.transcription or session_config.Transcription()
        joiner = transcription.TextJoiner()
        segments: list[Segment] = []
        try:
            speakers = self._speakers(settings.model) if announce else None
            diarized = await speakers.open() if speakers is not None else None
            stream = await stt.open_segments(
                self.runtime,
                settings.model,
                audio,
                language=settings.language,
                prompt=None if diarized is not None else settings.prompt,
                diarized=diarized,
            )
            try:
                async for segment in stream:
                    segments.append(segment)
                    delta = joiner.add(segment.text)
                    if announce and delta:
                        self.send(
                            events.TranscriptionDelta(item_id=item.id, content_index=0, delta=delta)
                        )
            finally:
                await stream.aclose()
            if speakers is not None and diarized is not None:
                self._send_speakers(item, speakers.label(segments, diarized, audio))
        except OpenAIError as exc:
            self._transcription_failed(item, exc)
            return None
        except Exception:
            log.exception("realtime transcription failed")
            error = EngineError("Transcription failed; the server log has the details.")
            self._transcription_failed(item, error)
            return None
        transcript = joiner.text
        content.transcript = transcript
        if announce:
            self.send(
                events.TranscriptionCompleted(
                    item_id=item.id,
                    content_index=0,
                    transcript=transcript,
                    usage={"type": "duration", "seconds": round(audio.duration, 3)},
                )
            )
        self.send(events.ItemDone(item=item.wire(beta=self.beta)))
        return transcript

    def _speakers(self, model: str) -> SpeakerMemory | None:
        """The session's speaker memory when ``model`` diarizes (one per diarizer)."""
        diarizer = self.runtime.diarizer(model)
        if diarizer is None:
            return None
        memory = self._speaker_memory
        if memory is None or memory.diarizer is not diarizer:
            memory = self._speaker_memory = SpeakerMemory(diarizer)
        return memory

    def _send_speakers(self, item: Item, segments: list[DiarizedSegment]) -> None:
        for segment in segments:
            self.send(
                events.TranscriptionSegment(
                    item_id=item.id,
                    content_index=0,
                    id=segment.id,
                    start=segment.start,
                    end=segment.end,
                    text=segment.text,
                    speaker=segment.speaker,
                )
            )

    def _transcription_failed(self, item: Item, error: OpenAIError) -> None:
        self.send(
            events.TranscriptionFailed(item_id=item.id, content_index=0, error=failure(error))
        )

    # -- conversation items -------------------------------------------------------------

    def _create_item(self, raw: dict[str, Any], previous: str | None) -> None:
        item = item_from_wire(raw)
        if item.kind == "function_call_output" and not self.conversation.has_call(item.call_id):
            raise InvalidRequestError(
                f"No function call with call_id `{item.call_id}` in this conversation.",
                param="item.call_id",
                code="invalid_call_id",
            )
        if item.kind == "function_call":
            self.conversation.remember_call(item.call_id)
        audio_parts = [
            (index, part)
            for index, part in enumerate(raw.get("content") or [])
            if isinstance(part, dict) and part.get("type") == "input_audio" and part.get("audio")
        ]
        audio = None
        if audio_parts:
            data = b"".join(
                _b64(part["audio"], f"item.content[{i}].audio") for i, part in audio_parts
            )
            audio = self._decode(data, "item.content")
        self.conversation.add(item, previous)
        self.send(
            events.ItemAdded(
                item=item.wire(beta=self.beta),
                previous_item_id=previous or self.conversation.previous_id(item),
            )
        )
        if audio is None:
            self.send(events.ItemDone(item=item.wire(beta=self.beta)))
            return
        self.conversation.transcripts[item.id] = self.spawn(self._transcribe(item, audio))

    def _truncate(self, event: wire.ConversationItemTruncate) -> None:
        item = self.conversation.find(event.item_id)
        if item.role != "assistant" or event.content_index >= len(item.content):
            raise InvalidRequestError(
                "Only an assistant item's audio can be truncated.", param="item_id"
            )
        part = item.content[event.content_index]
        if part.audio_ms and part.transcript:
            keep = min(1.0, event.audio_end_ms / part.audio_ms)
            words = part.transcript.split()
            part.transcript = " ".join(words[: round(len(words) * keep)])
            part.audio_ms = min(part.audio_ms, float(event.audio_end_ms))
        self.send(
            events.ItemTruncated(
                item_id=item.id,
                content_index=event.content_index,
                audio_end_ms=event.audio_end_ms,
            )
        )

    # -- responses ----------------------------------------------------------------------

    def create_response(self, params: dict[str, Any]) -> None:
        """Start a response (one at a time, as OpenAI)."""
        if self.config.kind != "realtime":
            raise InvalidRequestError(
                "Transcription sessions do not create responses; connect with "
                "`?model=gpt-realtime` for a conversation.",
                code="invalid_session_type",
            )
        if self.response is not None:
            raise InvalidRequestError(
                f"Conversation already has an active response in progress: {self.response.id}.",
                code="conversation_already_has_active_response",
            )
        run = ResponseRun(
            self.runtime,
            self.outbox,
            self.conversation,
            self.config,
            params,
            finished=self._response_finished,
            sink=self.audio_sink,
        )
        self.response = run
        run.task = self.spawn(run.run())

    def _response_finished(self, run: ResponseRun) -> None:
        """A response ended (completed, cancelled or failed)."""
        if self.response is run:
            self.response = None

    def _cancel(self, response_id: str | None) -> None:
        run = self.response
        if run is None or (response_id is not None and response_id != run.id):
            raise InvalidRequestError(
                "Cancellation failed: no active response found.",
                param="response_id" if response_id else None,
                code="response_cancel_not_active",
            )
        run.cancel("client_cancelled")


def _b64(data: Any, param: str) -> bytes:
    try:
        return base64.b64decode(str(data), validate=True)
    except binascii.Error:
        raise InvalidRequestError("Not valid base64.", param=param, code="invalid_base64") from None


def _invalid_event(text: str | bytes, exc: Exception) -> InvalidRequestError:
    """OpenAI's ``invalid_event`` errors: bad JSON, missing or unknown ``type``, bad fields."""
    try:
        raw = decode_json(text)
    except msgspec.DecodeError:
        return InvalidRequestError(
            "The server could not parse the event: it is not valid JSON.", code="invalid_json"
        )
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind is None:
        return InvalidRequestError("The 'type' field is missing.", code="invalid_event")
    if kind not in wire.CLIENT_EVENT_TYPES:
        return InvalidRequestError(
            f"Invalid value: '{kind}'. Supported values are: "
            + ", ".join(f"'{name}'" for name in sorted(wire.CLIENT_EVENT_TYPES))
            + ".",
            param="type",
            code="invalid_value",
        )
    message = str(exc)
    param = None
    if " - at `$." in message:
        message, _, path = message.partition(" - at `$.")
        param = path.rstrip("`")
    return InvalidRequestError(
        f"Invalid '{kind}' event: {message}.", param=param, code="invalid_event"
    )
