"""A realtime session's configuration: read from GA or beta ``session.update``s, shown in both.

GA nests audio settings (``audio.input.format``, ``audio.output.voice``); beta keeps them
flat (``input_audio_format``, ``voice``). Clients send either, so updates are read in both
shapes; the session object sent back follows the client's protocol. Unknown keys are
ignored, as a server that lacks a feature should; wrong types are errors.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from voxgate.errors import InvalidRequestError
from voxgate.services.languages import language_code
from voxgate.services.realtime import tools
from voxgate.services.realtime.audio import GA_NAMES, GA_TYPES, RATES, AudioFormat
from voxgate.services.realtime.vad import TurnSettings

SessionKind = Literal["transcription", "realtime"]
SESSION_TTL_SECONDS = 3600
MAX_PROMPT = 4096  # characters, as POST /v1/audio/transcriptions
DEFAULT_INSTRUCTIONS = (
    "You are a helpful, friendly voice assistant. Your answers are spoken aloud: keep them "
    "short and conversational, without lists, markup or emoji."
)
# semantic_vad has no semantic model here: its eagerness picks how much silence ends a turn
EAGERNESS_SILENCE_MS = {"low": 1500, "medium": 800, "auto": 800, "high": 400}


@dataclass(frozen=True)
class TurnDetection:
    """``server_vad`` (or ``semantic_vad``, approximated by silence) with its options."""

    type: str = "server_vad"
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    create_response: bool = True
    interrupt_response: bool = True
    idle_timeout_ms: int | None = None
    eagerness: str | None = None

    @property
    def settings(self) -> TurnSettings:
        """What the turn detector needs."""
        return TurnSettings(self.threshold, self.prefix_padding_ms, self.silence_duration_ms)

    def wire(self) -> dict[str, Any]:
        """As sent in session objects."""
        out: dict[str, Any] = {"type": self.type}
        if self.type == "semantic_vad":
            out["eagerness"] = self.eagerness or "auto"
        else:
            out |= {
                "threshold": self.threshold,
                "prefix_padding_ms": self.prefix_padding_ms,
                "silence_duration_ms": self.silence_duration_ms,
                "idle_timeout_ms": self.idle_timeout_ms,
            }
        return out | {
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response,
        }


@dataclass(frozen=True)
class Transcription:
    """``audio.input.transcription``: which STT model transcribes user audio."""

    model: str = "whisper-1"
    language: str | None = None
    prompt: str | None = None

    def wire(self) -> dict[str, Any]:
        """As sent in session objects."""
        return {"model": self.model, "language": self.language, "prompt": self.prompt or ""}


@dataclass(frozen=True)
class SessionConfig:
    """Everything a session's behaviour depends on."""

    kind: SessionKind
    model: str
    id: str = field(default_factory=lambda: f"sess_{secrets.token_hex(12)}")
    expires_at: int = field(default_factory=lambda: int(time.time()) + SESSION_TTL_SECONDS)
    input_format: AudioFormat = "pcm16"
    output_format: AudioFormat = "pcm16"
    transcription: Transcription | None = None
    turn_detection: TurnDetection | None = field(default_factory=TurnDetection)
    noise_reduction: dict[str, Any] | None = None
    include: list[str] = field(default_factory=list)
    instructions: str = DEFAULT_INSTRUCTIONS
    output_modalities: list[str] = field(default_factory=lambda: ["audio"])
    voice: str = "alloy"
    speed: float = 1.0
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | dict[str, Any] = "auto"
    temperature: float | None = None
    max_output_tokens: int | Literal["inf"] = "inf"
    speech_model: str = "tts-1"  # voxgate extension: the TTS model for spoken answers

    @property
    def stt_model(self) -> str:
        """The STT model for user audio (conversation sessions need transcripts either way)."""
        return self.transcription.model if self.transcription else "whisper-1"

    @property
    def input_rate(self) -> int:
        """Samples per second of the input format."""
        return RATES[self.input_format]


def initial(kind: SessionKind, model: str) -> SessionConfig:
    """The configuration a session starts with (``session.created``)."""
    if kind == "transcription":
        return SessionConfig(kind=kind, model=model, transcription=Transcription())
    return SessionConfig(kind=kind, model=model)


# -- reading updates ------------------------------------------------------------------------


def apply_update(config: SessionConfig, session: dict[str, Any]) -> SessionConfig:
    """``config`` with what ``session`` (GA or beta shape) changes; 400-style errors if bad."""
    audio = _object(session, "audio")
    audio_in = _object(audio, "input", "audio.input") if audio else {}
    audio_out = _object(audio, "output", "audio.output") if audio else {}
    changes = _input_changes(session, audio_in)
    changes |= _output_changes(session, audio_out)
    changes |= _model_changes(config, session)
    return replace(config, **changes)


def _input_changes(session: dict[str, Any], audio_in: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "format" in audio_in:
        changes["input_format"] = _ga_format(audio_in["format"], "session.audio.input.format")
    if "input_audio_format" in session:
        changes["input_format"] = _beta_format(session["input_audio_format"], "input_audio_format")
    for source, key, param in (
        (audio_in, "transcription", "session.audio.input.transcription"),
        (session, "input_audio_transcription", "session.input_audio_transcription"),
    ):
        if key in source:
            changes["transcription"] = _transcription(source[key], param)
    for source, key, param in (
        (audio_in, "turn_detection", "session.audio.input.turn_detection"),
        (session, "turn_detection", "session.turn_detection"),
    ):
        if key in source:
            changes["turn_detection"] = _turn_detection(source[key], param)
    for source, key in ((audio_in, "noise_reduction"), (session, "input_audio_noise_reduction")):
        if key in source:
            changes["noise_reduction"] = source[key]  # accepted; voxgate has no noise filter
    if "include" in session:
        changes["include"] = list(session["include"] or [])
    return changes


def _output_changes(session: dict[str, Any], audio_out: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "format" in audio_out:
        changes["output_format"] = _ga_format(audio_out["format"], "session.audio.output.format")
    if "output_audio_format" in session:
        changes["output_format"] = _beta_format(
            session["output_audio_format"], "output_audio_format"
        )
    voice = audio_out.get("voice", session.get("voice"))
    if voice is not None:
        changes["voice"] = _voice(voice)
    speed = audio_out.get("speed", session.get("speed"))
    if speed is not None:
        changes["speed"] = _number(speed, "session.audio.output.speed", 0.25, 1.5)
    modalities = session.get("output_modalities", session.get("modalities"))
    if modalities is not None:
        changes["output_modalities"] = _modalities(modalities)
    if session.get("speech_model") is not None:
        changes["speech_model"] = _text(session["speech_model"], "session.speech_model")
    return changes


def _model_changes(config: SessionConfig, session: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "instructions" in session:
        changes["instructions"] = _text(session["instructions"], "session.instructions")
    if "tools" in session:
        changes["tools"] = tools.check_tools(session["tools"], "session.tools")
    if "tool_choice" in session:
        changes["tool_choice"] = tools.check_choice(session["tool_choice"], "session.tool_choice")
    if session.get("temperature") is not None:
        changes["temperature"] = _number(session["temperature"], "session.temperature", 0, 2)
    limit = session.get("max_output_tokens", session.get("max_response_output_tokens"))
    if limit is not None:
        changes["max_output_tokens"] = _limit(limit)
    if session.get("model") is not None and config.kind == "realtime":
        changes["model"] = _text(session["model"], "session.model")
    return changes


def _object(source: dict[str, Any], key: str, param: str | None = None) -> dict[str, Any]:
    value = source.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequestError(f"`{param or key}` must be an object.", param=f"session.{key}")
    return value


def _ga_format(value: Any, param: str) -> AudioFormat:
    if isinstance(value, str):
        return _beta_format(value, param)
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in GA_TYPES:
        raise InvalidRequestError(
            "Audio format must be `audio/pcm` (24 kHz), `audio/pcmu` or `audio/pcma`.", param=param
        )
    rate = value.get("rate")
    if kind == "audio/pcm" and rate not in (None, RATES["pcm16"]):
        raise InvalidRequestError("`audio/pcm` is 24000 Hz only, as OpenAI's.", param=param)
    return GA_TYPES[kind]


def _beta_format(value: Any, param: str) -> AudioFormat:
    if value == "pcm16":
        return "pcm16"
    if value == "g711_ulaw":
        return "g711_ulaw"
    if value == "g711_alaw":
        return "g711_alaw"
    raise InvalidRequestError(
        "Audio format must be `pcm16`, `g711_ulaw` or `g711_alaw`.", param=f"session.{param}"
    )


def _transcription(value: Any, param: str) -> Transcription | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidRequestError("`transcription` must be an object or null.", param=param)
    language = value.get("language")
    languages = value.get("languages")  # gpt-transcribe's list (the Agents SDK sends it)
    if not language and isinstance(languages, list) and languages:
        language = languages[0]
    prompt = value.get("prompt") or None
    if prompt is not None and len(_text(prompt, f"{param}.prompt")) > MAX_PROMPT:
        raise InvalidRequestError(
            f"`prompt` is longer than {MAX_PROMPT} characters.",
            param=f"{param}.prompt",
            code="string_above_max_length",
        )
    return Transcription(
        model=_text(value.get("model") or "whisper-1", f"{param}.model"),
        language=_language(language, f"{param}.language"),
        prompt=prompt,
    )


def _language(value: Any, param: str) -> str | None:
    """An ISO-639-1 code (or a language name Whisper knows), as the HTTP endpoint takes it."""
    if value is None or value == "":
        return None
    code = language_code(value) if isinstance(value, str) else None
    if code is None:
        raise InvalidRequestError(
            f"Unknown language `{value}`: use an ISO-639-1 code such as `en`, `es` or `de`.",
            param=param,
        )
    return code


def _turn_detection(value: Any, param: str) -> TurnDetection | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in ("server_vad", "semantic_vad"):
        raise InvalidRequestError(
            "`turn_detection` must be null or have type `server_vad` or `semantic_vad`.",
            param=param,
        )
    defaults = TurnDetection()
    flags = {
        key: bool(value[key])
        for key in ("create_response", "interrupt_response")
        if value.get(key) is not None
    }
    if value["type"] == "semantic_vad":
        eagerness = value.get("eagerness") or "auto"
        if eagerness not in EAGERNESS_SILENCE_MS:
            raise InvalidRequestError(
                "`eagerness` must be low, medium, high or auto.", param=f"{param}.eagerness"
            )
        return replace(
            defaults,
            type="semantic_vad",
            eagerness=eagerness,
            silence_duration_ms=EAGERNESS_SILENCE_MS[eagerness],
            **flags,
        )
    numbers = {
        "threshold": (0.0, 1.0),
        "prefix_padding_ms": (0, 10_000),
        "silence_duration_ms": (0, 10_000),
        "idle_timeout_ms": (0, 3_600_000),
    }
    options: dict[str, Any] = dict(flags)
    for key, (low, high) in numbers.items():
        if value.get(key) is not None:
            number = _number(value[key], f"{param}.{key}", low, high)
            options[key] = number if key == "threshold" else int(number)
    return replace(defaults, **options)


def _voice(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    if isinstance(value, str) and value:
        return value
    raise InvalidRequestError(
        'A voice is a name or `{"id": …}`.', param="session.audio.output.voice"
    )


def _modalities(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not set(value) <= {"text", "audio"}:
        raise InvalidRequestError(
            '`output_modalities` must be `["audio"]` or `["text"]`.',
            param="session.output_modalities",
        )
    return ["audio"] if "audio" in value else ["text"]


def _text(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequestError(f"`{param}` must be a string.", param=param)
    return value


def _number(value: Any, param: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidRequestError(f"`{param}` must be a number from {low} to {high}.", param=param)
    return float(value)


def _limit(value: Any) -> int | Literal["inf"]:
    if value == "inf":
        return "inf"
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4096:  # noqa: PLR2004
        return value
    raise InvalidRequestError(
        "`max_output_tokens` must be 1 to 4096 or `inf`.", param="session.max_output_tokens"
    )


# -- showing the session ---------------------------------------------------------------------


def render(config: SessionConfig, *, beta: bool) -> dict[str, Any]:
    """The session object of ``session.created`` / ``.updated``, in the client's protocol."""
    turn = config.turn_detection.wire() if config.turn_detection else None
    transcription = config.transcription.wire() if config.transcription else None
    if beta:
        return _render_beta(config, turn, transcription)
    audio_in = {
        "format": GA_NAMES[config.input_format],
        "transcription": transcription,
        "noise_reduction": config.noise_reduction,
        "turn_detection": turn,
    }
    if config.kind == "transcription":
        return {
            "type": "transcription",
            "object": "realtime.transcription_session",
            "id": config.id,
            "expires_at": config.expires_at,
            "audio": {"input": audio_in},
            "include": config.include,
        }
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": config.id,
        "expires_at": config.expires_at,
        "model": config.model,
        "output_modalities": config.output_modalities,
        "instructions": config.instructions,
        "audio": {
            "input": audio_in,
            "output": {
                "format": GA_NAMES[config.output_format],
                "voice": config.voice,
                "speed": config.speed,
            },
        },
        "tools": config.tools,
        "tool_choice": config.tool_choice,
        "max_output_tokens": config.max_output_tokens,
        "include": config.include,
        "speech_model": config.speech_model,
    }


def _render_beta(
    config: SessionConfig, turn: dict[str, Any] | None, transcription: dict[str, Any] | None
) -> dict[str, Any]:
    common = {
        "id": config.id,
        "expires_at": config.expires_at,
        "input_audio_format": config.input_format,
        "input_audio_transcription": transcription,
        "turn_detection": turn,
        "input_audio_noise_reduction": config.noise_reduction,
        "include": config.include,
    }
    if config.kind == "transcription":
        # The beta SDK requires a client secret; none is minted for a WebSocket session.
        secret = {"value": "", "expires_at": config.expires_at}
        return {"object": "realtime.transcription_session", "client_secret": secret, **common}
    return {
        "object": "realtime.session",
        "model": config.model,
        "modalities": ["text", "audio"] if "audio" in config.output_modalities else ["text"],
        "instructions": config.instructions,
        "voice": config.voice,
        "output_audio_format": config.output_format,
        "speed": config.speed,
        "tools": config.tools,
        "tool_choice": config.tool_choice,
        "temperature": config.temperature if config.temperature is not None else 0.8,
        "max_response_output_tokens": config.max_output_tokens,
        "speech_model": config.speech_model,
        **common,
    }
