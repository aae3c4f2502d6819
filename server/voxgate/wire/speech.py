"""``POST /v1/audio/speech`` (contract §2): the request, the SSE events, the content types."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

SpeechFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]

# What the real service and compatible servers send (contract §2.2).
CONTENT_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}

SampleRate = Annotated[int, msgspec.Meta(ge=8_000, le=48_000)]


class CustomVoice(msgspec.Struct, frozen=True):
    """``"voice": {"id": "voice_1234"}``: a custom voice by id."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class ModelExtensions(msgspec.Struct, frozen=True, kw_only=True):
    """a15t's ``model_extensions``: ``{"sr": 16000}`` asks for another output rate."""

    sr: SampleRate | None = None


# h2oGPT's examples send its flags as JSON booleans or as the strings "true" / "false"
Flag = bool | Literal["true", "false"]
VoiceHint = Annotated[str, msgspec.Meta(max_length=256)] | None


class SpeechRequest(msgspec.Struct, frozen=True, kw_only=True):
    """The JSON body; the fields after ``stream_format`` are extensions of servers voxgate replaces.

    ``voice`` may be empty or missing (h2oGPT sends ``""``): the instance's default voice.
    """

    model: Annotated[str, msgspec.Meta(min_length=1)]
    input: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    voice: Annotated[str, msgspec.Meta(max_length=256)] | CustomVoice = ""
    instructions: Annotated[str, msgspec.Meta(max_length=4096)] | None = None
    response_format: SpeechFormat = "mp3"
    speed: Annotated[float, msgspec.Meta(ge=0.25, le=4.0)] = 1.0
    stream_format: Literal["audio", "sse"] = "audio"
    # voxgate extensions, documented in docs/api/compatibility.md:
    sample_rate: SampleRate | None = None
    model_extensions: ModelExtensions | None = None
    stream: Flag = True  # h2oGPT: voxgate always streams
    stream_strip: Flag = True  # h2oGPT: False -> every chunk a standalone WAV
    speaker: VoiceHint = None  # h2oGPT: a voice name, used when `voice` is empty
    chatbot_role: VoiceHint = None  # h2oGPT: the same, tried after `speaker`

    @property
    def voice_id(self) -> str:
        """The requested voice as one string (``""``: the instance's default voice)."""
        return self.voice.id if isinstance(self.voice, CustomVoice) else self.voice

    @property
    def strips(self) -> bool:
        """Whether a streamed WAV has one header (h2oGPT's ``stream_strip``, however sent)."""
        return self.stream_strip in (True, "true")


class SpeechUsage(msgspec.Struct, frozen=True):
    """``usage`` of ``speech.audio.done``: all three counts are required."""

    input_tokens: int
    output_tokens: int
    total_tokens: int


class AudioDelta(msgspec.Struct, frozen=True, tag="speech.audio.delta"):
    """A base64 piece of the encoded stream; the pieces joined are a valid file."""

    audio: str


class AudioDone(msgspec.Struct, frozen=True, tag="speech.audio.done"):
    """The last SSE event."""

    usage: SpeechUsage


def encode_event(event: AudioDelta | AudioDone) -> bytes:
    """One SSE frame."""
    return b"data: " + msgspec.json.encode(event) + b"\n\n"
