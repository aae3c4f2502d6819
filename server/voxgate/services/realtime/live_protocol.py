"""The live transcription protocol's words: close codes, refusals and transcript messages.

Kept apart from the session (``live.py``), which decides *when*; this decides *how it is said*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec
import numpy as np

from voxgate.errors import (
    InvalidRequestError,
    OpenAIError,
    RateLimitError,
    ServiceUnavailableError,
    param_from_msgspec,
)
from voxgate.services.realtime.vad import VAD_RATE
from voxgate.services.transcription import joined_text
from voxgate.wire.live import ENCODINGS, FinalTranscript, LiveConfig, LiveWord, PartialTranscript

if TYPE_CHECKING:
    from voxgate.engines.base import Segment

# WebSocket close codes (RFC 6455 §7.4.1).
NORMAL = 1000
UNSUPPORTED_DATA = 1003
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013

SAMPLES_PER_MS = VAD_RATE // 1000
_REASON_BYTES = 120  # close reasons are limited to 123 bytes
_NAMED_FIELD = re.compile(r"(?:missing required|unknown) field `(?P<field>[^`]+)`")
CONFIG_KEYS = tuple(field.name for field in msgspec.structs.fields(LiveConfig))


@dataclass(frozen=True)
class Close:
    """How the handler closes the socket once the session is over."""

    code: int
    reason: str = ""


class Gone(Exception):  # noqa: N818 - a signal, not an error
    """The client went away: a disconnect frame, or a send that failed."""


class Refused(Exception):  # noqa: N818
    """The configuration is refused: ``error`` is sent, then the socket closes with ``code``."""

    def __init__(self, error: OpenAIError, code: int) -> None:
        super().__init__(error.message)
        self.error = error
        self.code = code


def close_code(error: OpenAIError) -> int:
    """The close code for an error that ends a session."""
    if isinstance(error, RateLimitError | ServiceUnavailableError):
        return TRY_AGAIN_LATER
    if error.status_code < 500:  # noqa: PLR2004
        return POLICY_VIOLATION
    return INTERNAL_ERROR


def reason(text: str) -> str:
    return text.encode()[:_REASON_BYTES].decode(errors="ignore")


def _created() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def transcript_message(
    kind: type[PartialTranscript | FinalTranscript],
    segments: list[Segment],
    begin: int,
    onset: int,
    speech_end: int,
) -> PartialTranscript | FinalTranscript:
    """The message for ``segments`` decoded from audio starting at sample ``begin``.

    Word times move onto the session clock and are clamped into the utterance, in order:
    Whisper tends to start the first word at the start of its audio (in the padding).
    """
    audio_start = onset // SAMPLES_PER_MS
    audio_end = max(audio_start, speech_end // SAMPLES_PER_MS)
    offset = begin / SAMPLES_PER_MS
    words: list[LiveWord] = []
    probabilities: list[float] = []
    previous = audio_start
    for segment in segments:
        for word in segment.words or []:
            text = word.word.strip()
            if not text:
                continue
            start = min(max(round(offset + 1000 * word.start), previous), audio_end)
            end = min(max(round(offset + 1000 * word.end), start), audio_end)
            confidence = round(min(max(float(word.probability), 0.0), 1.0), 4)
            words.append(LiveWord(start=start, end=end, confidence=confidence, text=text))
            probabilities.append(confidence)
            previous = end
    if not probabilities:  # no words from this engine: the segments' own confidence
        probabilities = [float(np.exp(min(s.avg_logprob, 0.0))) for s in segments]
    confidence = round(sum(probabilities) / len(probabilities), 4) if probabilities else 0.0
    return kind(
        text=joined_text(segments),
        audio_start=audio_start,
        audio_end=audio_end,
        confidence=confidence,
        words=words,
        created=_created(),
    )


def config_error(message: str) -> Refused:
    """The configuration's problem as msgspec words it, with the field as ``param``."""
    text, param = param_from_msgspec(message)
    named = _NAMED_FIELD.search(text)
    if named:
        param = named.group("field")
    if param == "encoding":
        supported = ", ".join(ENCODINGS)
        error = InvalidRequestError(
            f"Unsupported encoding; use one of {supported}.",
            param="encoding",
            code="unsupported_encoding",
        )
        return Refused(error, UNSUPPORTED_DATA)
    return Refused(InvalidRequestError(text, param=param, code="invalid_config"), POLICY_VIOLATION)
