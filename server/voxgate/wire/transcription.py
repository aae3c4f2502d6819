"""``/v1/audio/transcriptions`` and ``/v1/audio/translations`` (contract §3, §4).

Requests arrive as multipart forms: :mod:`voxgate.wire.forms` turns the parts into a plain
dict that ``msgspec.convert(..., strict=False)`` decodes into the request Structs below.
Responses are the exact shapes the official SDK parses.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import msgspec

ResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt", "diarized_json"]
TranslationFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]
Granularity = Literal["word", "segment"]

Temperature = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Prompt = Annotated[str, msgspec.Meta(max_length=4096)]


class ServerVadChunking(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``chunking_strategy`` as an object: VAD segmentation with these settings."""

    type: Literal["server_vad"]
    prefix_padding_ms: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 300
    silence_duration_ms: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 200
    threshold: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.5


class AudioRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Fields both endpoints share, plus voxgate's extensions (documented in docs/api)."""

    model: Annotated[str, msgspec.Meta(min_length=1)]
    prompt: Prompt | None = None
    temperature: Temperature = 0.0
    # extension: the upload is raw s16le PCM, not a container (OpenAI's PCM: 24 kHz mono)
    file_format: Literal["auto", "pcm"] = "auto"
    sample_rate: Annotated[int, msgspec.Meta(ge=8_000, le=192_000)] = 24_000
    channels: Annotated[int, msgspec.Meta(ge=1, le=8)] = 1


class TranscriptionRequest(AudioRequest, frozen=True, kw_only=True):
    """The form of ``POST /v1/audio/transcriptions`` without its file part."""

    language: Annotated[str, msgspec.Meta(min_length=2, max_length=32)] | None = None
    response_format: ResponseFormat = "json"
    # unset (None) means ["segment"]; kept apart so the diarize model can refuse it when sent
    timestamp_granularities: list[Granularity] | None = None
    include: list[Literal["logprobs"]] = msgspec.field(default_factory=list)
    stream: bool = False
    chunking_strategy: Literal["auto"] | ServerVadChunking | None = None
    # h2oGPT's extensions: how streamed audio is cut before decoding
    chunk: Literal["silence", "interval"] | None = None
    chunk_seconds: Annotated[float, msgspec.Meta(ge=1.0, le=600.0)] = 10.0
    # the diarize model's: names, and data-URL voice clips of the same speakers (checked later)
    known_speaker_names: list[str] = msgspec.field(default_factory=list)
    known_speaker_references: list[str] = msgspec.field(default_factory=list)

    @property
    def granularities(self) -> list[Granularity]:
        """``timestamp_granularities``, or OpenAI's default ``["segment"]`` when unset."""
        return self.timestamp_granularities or ["segment"]


class TranslationRequest(AudioRequest, frozen=True, kw_only=True):
    """The form of ``POST /v1/audio/translations`` without its file part."""

    response_format: TranslationFormat = "json"


# -- responses --------------------------------------------------------------------------------


class DurationUsage(msgspec.Struct, frozen=True, tag="duration", tag_field="type"):
    """whisper-1 style usage: seconds of input audio, rounded up."""

    seconds: int


class InputTokenDetails(msgspec.Struct, frozen=True):
    """How the input tokens split between the prompt and the audio."""

    text_tokens: int
    audio_tokens: int


class TokensUsage(msgspec.Struct, frozen=True, tag="tokens", tag_field="type"):
    """The usage the SDK types on ``transcript.text.done``."""

    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_token_details: InputTokenDetails


class Logprob(msgspec.Struct, frozen=True):
    """One entry of ``logprobs``: a token, its UTF-8 bytes and its log probability."""

    token: str
    logprob: float
    bytes: list[int]


class Transcription(msgspec.Struct, frozen=True, omit_defaults=True):
    """``response_format=json``."""

    text: str
    usage: DurationUsage | None = None
    logprobs: list[Logprob] | None = None


class VerboseSegment(msgspec.Struct, frozen=True):
    """A segment of ``verbose_json``: every key OpenAI sends is required by the SDK."""

    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


class VerboseWord(msgspec.Struct, frozen=True):
    """A word of ``verbose_json`` with ``timestamp_granularities[]=word``."""

    word: str
    start: float
    end: float


class TranscriptionVerbose(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``response_format=verbose_json``; translations omit ``words`` and ``usage``."""

    task: Literal["transcribe", "translate"]
    language: str
    duration: float
    text: str
    segments: list[VerboseSegment] | None = None
    words: list[VerboseWord] | None = None
    usage: DurationUsage | None = None
    logprobs: list[Logprob] | None = None


class DiarizedSegment(
    msgspec.Struct, frozen=True, kw_only=True, tag="transcript.text.segment", tag_field="type"
):
    """A speaker's stretch of the transcript: a ``diarized_json`` segment and the SSE event."""

    id: str
    start: float
    end: float
    text: str
    speaker: str


class TranscriptionDiarized(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``response_format=diarized_json``: who said what, when."""

    task: Literal["transcribe"]  # required: omit_defaults would drop a default
    duration: float
    text: str
    segments: list[DiarizedSegment]
    usage: DurationUsage | None = None


class TextDelta(msgspec.Struct, frozen=True, omit_defaults=True, tag="transcript.text.delta"):
    """A piece of the transcript, sent as soon as its segment is decoded."""

    delta: str
    logprobs: list[Logprob] | None = None


class TextDone(msgspec.Struct, frozen=True, omit_defaults=True, tag="transcript.text.done"):
    """The last event: the full text (equal to the deltas joined) and usage."""

    text: str
    usage: TokensUsage | None = None
    logprobs: list[Logprob] | None = None


def encode_sse(event: TextDelta | TextDone | DiarizedSegment) -> bytes:
    """One SSE frame; the SDK dispatches on the JSON ``type`` field."""
    return b"data: " + msgspec.json.encode(event) + b"\n\n"


AudioRequestT = TypeVar("AudioRequestT", bound=AudioRequest)


def convert_form(fields: dict[str, Any], request_type: type[AudioRequestT]) -> AudioRequestT:
    """Decode normalized form fields (strings) into ``request_type``; form values are text."""
    return msgspec.convert(fields, request_type, strict=False)
