"""Live transcription over WebSocket (a15t's protocol): the config message, the server's replies.

The client's first text frame is a ``LiveConfig``; binary frames carry audio; ``{"done": true}``
ends the session. The server answers with ``PartialTranscript`` / ``FinalTranscript`` messages,
and ``Error`` (voxgate's OpenAI error object) when something is wrong. docs/api/compatibility.md
documents every field.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from voxgate.wire.errors import ErrorDetail  # noqa: TC001 - msgspec reads it at runtime

Encoding = Literal["pcm_s16le", "pcm_f32le", "pcm_mulaw", "pcm_alaw"]
ENCODINGS: tuple[str, ...] = ("pcm_s16le", "pcm_f32le", "pcm_mulaw", "pcm_alaw")


class LiveConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The first message; every field but ``sample_rate`` may also come as a query parameter.

    The message wins over the query. Unknown keys are refused, so a misspelt setting is an
    error rather than silently the default.
    """

    sample_rate: Annotated[int, msgspec.Meta(ge=8_000, le=48_000)]
    encoding: Encoding = "pcm_s16le"
    model: Annotated[str, msgspec.Meta(min_length=1)] = "whisper-1"
    language: Annotated[str, msgspec.Meta(min_length=2, max_length=32)] | None = None
    # voice activity: what is an utterance
    threshold: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.5
    silence_duration_ms: Annotated[int, msgspec.Meta(ge=100, le=10_000)] = 500
    prefix_padding_ms: Annotated[int, msgspec.Meta(ge=0, le=2_000)] = 300
    max_utterance_ms: Annotated[int, msgspec.Meta(ge=2_000, le=30_000)] = 30_000
    # partial transcripts: 0 turns them off
    partial_interval_ms: Annotated[int, msgspec.Meta(ge=0, le=60_000)] = 1_000


class LiveWord(msgspec.Struct, frozen=True):
    """One recognised word; times in ms since the session's first audio."""

    start: int
    end: int
    confidence: float
    text: str


class _Transcript(msgspec.Struct, frozen=True, kw_only=True, tag_field="message_type"):
    text: str
    audio_start: int
    audio_end: int
    confidence: float
    words: list[LiveWord]
    created: str


class PartialTranscript(_Transcript, frozen=True, kw_only=True, tag="PartialTranscript"):
    """The utterance so far, while someone speaks; a later one replaces it."""


class FinalTranscript(_Transcript, frozen=True, kw_only=True, tag="FinalTranscript"):
    """The utterance's transcript once voice activity says it ended; sent exactly once."""


class LiveError(msgspec.Struct, frozen=True, kw_only=True, tag_field="message_type", tag="Error"):
    """A problem, in voxgate's OpenAI error object; fatal ones are followed by the close."""

    error: ErrorDetail


LiveMessage = PartialTranscript | FinalTranscript | LiveError
