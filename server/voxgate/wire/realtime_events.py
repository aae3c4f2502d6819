"""OpenAI Realtime API server events (contract §6.5) as typed Structs, under their GA names.

Every event a session sends is one of these, so a field the SDK's models require cannot be
forgotten and a wrong type cannot be sent: ``tests/api/test_realtime_sdk_events.py`` checks
each event of whole sessions against the SDK's own pydantic unions, GA and beta.

Beta clients get the same events renamed (``render``): the beta protocol has the same fields
under older names (``response.audio.delta``) and lacks a few GA events. Items and content
parts are built for the client's protocol by the session (their content types differ).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

BETA_NAMES = {
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "conversation.item.added": "conversation.item.created",
}
GA_ONLY = frozenset(
    {"conversation.item.done", "conversation.item.input_audio_transcription.segment"}
)

Status = Literal["completed", "incomplete", "in_progress"]


# -- content parts and items -------------------------------------------------------------------


class Part(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A content part: ``input_text``/``output_text`` carry text, audio parts a transcript.

    ``response.content_part.*`` events name parts ``text`` or ``audio`` in both protocols.
    """

    type: str
    text: str | UnsetType = UNSET
    transcript: str | UnsetType | None = UNSET


class _Item(msgspec.Struct, kw_only=True, tag_field="type"):
    id: str
    object: Literal["realtime.item"] = "realtime.item"
    status: Status = "completed"


class MessageItem(_Item, tag="message"):
    """A message of the user, the assistant or the system."""

    role: Literal["user", "assistant", "system"]
    content: list[Part]


class FunctionCallItem(_Item, tag="function_call"):
    """The model asks the client to run a function."""

    call_id: str
    name: str
    arguments: str


class FunctionCallOutputItem(_Item, tag="function_call_output"):
    """The client's result of a function call."""

    call_id: str
    output: str


Item = MessageItem | FunctionCallItem | FunctionCallOutputItem


class ErrorDetail(msgspec.Struct, kw_only=True):
    """The ``error`` object of ``error`` and ``…transcription.failed`` events."""

    type: str
    code: str | None
    message: str
    param: str | None
    event_id: str | UnsetType | None = UNSET


class StatusDetails(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Why a response ended as it did."""

    type: Literal["completed", "cancelled", "failed", "incomplete"]
    reason: str | UnsetType = UNSET
    error: dict[str, Any] | UnsetType = UNSET


class Response(msgspec.Struct, kw_only=True):
    """A ``realtime.response``; GA and beta name its output settings differently (UNSET: absent)."""

    id: str
    object: Literal["realtime.response"] = "realtime.response"
    status: Literal["completed", "cancelled", "failed", "incomplete", "in_progress"]
    status_details: StatusDetails | None = None
    output: list[Item]
    conversation_id: str
    usage: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    max_output_tokens: int | Literal["inf"] = "inf"
    output_modalities: list[str] | UnsetType = UNSET
    audio: dict[str, Any] | UnsetType = UNSET
    modalities: list[str] | UnsetType = UNSET
    output_audio_format: str | UnsetType = UNSET
    voice: str | UnsetType = UNSET


# -- events --------------------------------------------------------------------------------------


class ServerEvent(msgspec.Struct, kw_only=True, tag_field="type"):
    """Every server event has ``type`` (the tag) and ``event_id`` (set when it is sent)."""

    event_id: str = ""


class SessionCreated(ServerEvent, tag="session.created"):
    session: dict[str, Any]


class SessionUpdated(ServerEvent, tag="session.updated"):
    session: dict[str, Any]


class TranscriptionSessionCreated(ServerEvent, tag="transcription_session.created"):
    """Beta only (the spec's name; the SDK's beta union lacks it)."""

    session: dict[str, Any]


class TranscriptionSessionUpdated(ServerEvent, tag="transcription_session.updated"):
    session: dict[str, Any]


class Error(ServerEvent, tag="error"):
    error: ErrorDetail


class SpeechStarted(ServerEvent, tag="input_audio_buffer.speech_started"):
    item_id: str
    audio_start_ms: int


class SpeechStopped(ServerEvent, tag="input_audio_buffer.speech_stopped"):
    item_id: str
    audio_end_ms: int


class BufferCommitted(ServerEvent, tag="input_audio_buffer.committed"):
    item_id: str
    previous_item_id: str | None = None


class BufferCleared(ServerEvent, tag="input_audio_buffer.cleared"):
    pass


class OutputAudioStarted(ServerEvent, tag="output_audio_buffer.started"):
    """WebRTC only: a response's audio began playing on the server's track."""

    response_id: str


class OutputAudioStopped(ServerEvent, tag="output_audio_buffer.stopped"):
    """WebRTC only: the track played all of a response's audio."""

    response_id: str


class OutputAudioCleared(ServerEvent, tag="output_audio_buffer.cleared"):
    """WebRTC only: the audio not yet played was dropped (barge-in or a client's clear)."""

    response_id: str


class ItemAdded(ServerEvent, tag="conversation.item.added"):
    item: Item
    previous_item_id: str | None = None


class ItemDone(ServerEvent, tag="conversation.item.done"):
    item: Item
    previous_item_id: str | None = None


class ItemRetrieved(ServerEvent, tag="conversation.item.retrieved"):
    item: Item


class ItemDeleted(ServerEvent, tag="conversation.item.deleted"):
    item_id: str


class ItemTruncated(ServerEvent, tag="conversation.item.truncated"):
    item_id: str
    content_index: int
    audio_end_ms: int


class TranscriptionDelta(ServerEvent, tag="conversation.item.input_audio_transcription.delta"):
    item_id: str
    content_index: int
    delta: str


class TranscriptionCompleted(
    ServerEvent, tag="conversation.item.input_audio_transcription.completed"
):
    item_id: str
    content_index: int
    transcript: str
    usage: dict[str, Any]


class TranscriptionSegment(ServerEvent, tag="conversation.item.input_audio_transcription.segment"):
    """One speaker's stretch of a turn (diarizing models): seconds from the turn's start."""

    item_id: str
    content_index: int
    id: str
    start: float
    end: float
    text: str
    speaker: str


class TranscriptionFailed(ServerEvent, tag="conversation.item.input_audio_transcription.failed"):
    item_id: str
    content_index: int
    error: ErrorDetail


class ResponseCreated(ServerEvent, tag="response.created"):
    response: Response


class ResponseDone(ServerEvent, tag="response.done"):
    response: Response


class OutputItemAdded(ServerEvent, tag="response.output_item.added"):
    response_id: str
    output_index: int
    item: Item


class OutputItemDone(ServerEvent, tag="response.output_item.done"):
    response_id: str
    output_index: int
    item: Item


class _InPart(ServerEvent):
    """Events about one content part of a response's output item."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int


class ContentPartAdded(_InPart, tag="response.content_part.added"):
    part: Part


class ContentPartDone(_InPart, tag="response.content_part.done"):
    part: Part


class AudioDelta(_InPart, tag="response.output_audio.delta"):
    delta: str


class AudioDone(_InPart, tag="response.output_audio.done"):
    pass


class AudioTranscriptDelta(_InPart, tag="response.output_audio_transcript.delta"):
    delta: str


class AudioTranscriptDone(_InPart, tag="response.output_audio_transcript.done"):
    transcript: str


class TextDelta(_InPart, tag="response.output_text.delta"):
    delta: str


class TextDone(_InPart, tag="response.output_text.done"):
    text: str


class ArgumentsDelta(ServerEvent, tag="response.function_call_arguments.delta"):
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    delta: str


class ArgumentsDone(ServerEvent, tag="response.function_call_arguments.done"):
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    name: str
    arguments: str


def event_name(event: ServerEvent) -> str:
    """The GA ``type`` of an event."""
    return str(type(event).__struct_config__.tag)


_encoder = msgspec.json.Encoder()


def render(event: ServerEvent, *, beta: bool) -> bytes | None:
    """The JSON frame for the client's protocol; None for a GA event beta does not have."""
    if not beta:
        return _encoder.encode(event)
    name = event_name(event)
    if name in GA_ONLY:
        return None
    beta_name = BETA_NAMES.get(name)
    if beta_name is None:
        return _encoder.encode(event)
    fields = msgspec.structs.asdict(event)
    return _encoder.encode({"type": beta_name, **fields})
