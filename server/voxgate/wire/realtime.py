"""OpenAI Realtime API client events (contract §6.4): a tagged union decoded by msgspec.

Decoding checks each event's own fields; the ``session`` and ``item`` objects are plain
dicts, read leniently by the session (GA and beta shapes differ, and clients send both).
Server events are built by ``voxgate.services.realtime.events``.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from voxgate.wire.decoding import decode_json

EventId = Annotated[str, msgspec.Meta(max_length=512)] | None


class _ClientEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    event_id: EventId = None


class SessionUpdate(_ClientEvent, frozen=True, tag="session.update"):
    """Change the session's configuration; only the keys sent change."""

    session: dict[str, Any]


class TranscriptionSessionUpdate(_ClientEvent, frozen=True, tag="transcription_session.update"):
    """The beta name for updating a transcription session."""

    session: dict[str, Any]


class InputAudioBufferAppend(_ClientEvent, frozen=True, tag="input_audio_buffer.append"):
    """Base64 audio in the session's input format."""

    audio: str


class InputAudioBufferCommit(_ClientEvent, frozen=True, tag="input_audio_buffer.commit"):
    """Make the buffered audio a user message (manual turns)."""


class InputAudioBufferClear(_ClientEvent, frozen=True, tag="input_audio_buffer.clear"):
    """Drop the buffered audio."""


class OutputAudioBufferClear(_ClientEvent, frozen=True, tag="output_audio_buffer.clear"):
    """WebRTC/SIP only; over WebSocket there is no server-side output buffer."""


class ConversationItemCreate(_ClientEvent, frozen=True, tag="conversation.item.create"):
    """Add a message to the conversation."""

    item: dict[str, Any]
    previous_item_id: str | None = None


class ConversationItemDelete(_ClientEvent, frozen=True, tag="conversation.item.delete"):
    """Remove an item."""

    item_id: str


class ConversationItemRetrieve(_ClientEvent, frozen=True, tag="conversation.item.retrieve"):
    """Ask for an item as the server holds it."""

    item_id: str


class ConversationItemTruncate(_ClientEvent, frozen=True, tag="conversation.item.truncate"):
    """Cut an assistant's audio (and its transcript) where the listener stopped hearing it."""

    item_id: str
    content_index: Annotated[int, msgspec.Meta(ge=0)]
    audio_end_ms: Annotated[int, msgspec.Meta(ge=0)]


class ResponseCreate(_ClientEvent, frozen=True, tag="response.create"):
    """Ask the model to answer."""

    response: dict[str, Any] | None = None


class ResponseCancel(_ClientEvent, frozen=True, tag="response.cancel"):
    """Stop the response in progress."""

    response_id: str | None = None


ClientEvent = (
    SessionUpdate
    | TranscriptionSessionUpdate
    | InputAudioBufferAppend
    | InputAudioBufferCommit
    | InputAudioBufferClear
    | OutputAudioBufferClear
    | ConversationItemCreate
    | ConversationItemDelete
    | ConversationItemRetrieve
    | ConversationItemTruncate
    | ResponseCreate
    | ResponseCancel
)

CLIENT_EVENT_TYPES = frozenset(cls.__struct_config__.tag for cls in ClientEvent.__args__)

_decoder = msgspec.json.Decoder(ClientEvent)


def decode_client_event(data: str | bytes) -> ClientEvent:
    """One client event; raises ``msgspec.DecodeError`` / ``ValidationError`` on bad input."""
    return decode_json(data, _decoder)
