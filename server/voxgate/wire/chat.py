"""``POST /v1/chat/completions`` with audio (contract §7): the parts of the body voxgate reads.

Only what voxgate acts on is typed; every other key of the body (tools, response_format,
temperature, …) is left as it is and forwarded to the upstream LLM untouched.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from voxgate.wire.speech import CustomVoice

ChatAudioFormat = Literal["wav", "aac", "mp3", "flac", "opus", "pcm16"]

# Chat names its 24 kHz s16le format `pcm16`; the speech endpoint calls it `pcm`.
SPEECH_FORMATS: dict[str, str] = {
    "wav": "wav",
    "aac": "aac",
    "mp3": "mp3",
    "flac": "flac",
    "opus": "opus",
    "pcm16": "pcm",
}

# voxgate's own fields (the SDK sends them through `extra_body`); never forwarded upstream.
EXTENSION_FIELDS = ("transcription_model", "speech_model")
# Audio fields a text-only upstream does not understand; voxgate answers them itself.
AUDIO_FIELDS = ("modalities", "audio")


class AudioOutput(msgspec.Struct, frozen=True, kw_only=True):
    """``audio: {voice, format}``: both required when ``modalities`` asks for audio."""

    voice: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | CustomVoice
    format: ChatAudioFormat

    @property
    def voice_id(self) -> str:
        """The voice as one string."""
        return self.voice.id if isinstance(self.voice, CustomVoice) else self.voice


class ChatRequest(msgspec.Struct, frozen=True, kw_only=True):
    """The keys of a chat body that voxgate reads (unknown keys are allowed and forwarded)."""

    model: Annotated[str, msgspec.Meta(min_length=1)]
    messages: Annotated[list[dict[str, Any]], msgspec.Meta(min_length=1)]
    modalities: list[Literal["text", "audio"]] | None = None
    audio: AudioOutput | None = None
    stream: bool | None = None
    n: Annotated[int, msgspec.Meta(ge=1, le=128)] | None = None
    # voxgate extensions, documented in docs/api/compatibility.md:
    transcription_model: Annotated[str, msgspec.Meta(min_length=1)] = "whisper-1"
    speech_model: Annotated[str, msgspec.Meta(min_length=1)] = "tts-1"

    @property
    def wants_audio(self) -> bool:
        """``modalities`` includes ``audio``."""
        return "audio" in (self.modalities or ())


class InputAudio(msgspec.Struct, frozen=True, kw_only=True):
    """A user content part's ``input_audio``: base64 audio (the format is sniffed anyway)."""

    data: Annotated[str, msgspec.Meta(min_length=1)]
    format: Annotated[str, msgspec.Meta(min_length=1)]


class AudioReference(msgspec.Struct, frozen=True):
    """An assistant message's ``audio: {"id": …}``: an earlier spoken reply."""

    id: Annotated[str, msgspec.Meta(min_length=1)]


class MessageAudio(msgspec.Struct, frozen=True, kw_only=True):
    """``message.audio`` of a reply: all four keys are required by the SDK."""

    id: str
    data: str
    expires_at: int
    transcript: str


def sse_frame(payload: object) -> bytes:
    """One ``data:`` frame of a chat stream."""
    return b"data: " + msgspec.json.encode(payload) + b"\n\n"


DONE_FRAME = b"data: [DONE]\n\n"
