"""voxgate: a self-hosted, OpenAI-compatible audio server.

This module is the public plugin API: everything a plugin imports comes from here.
"""

from voxgate.config import ServerConfig, Task, join_path
from voxgate.context import EngineHandle, RouteContext
from voxgate.engines.audio import PcmAudio
from voxgate.engines.base import (
    AudioDecodeError,
    AudioEncoder,
    ChatProxy,
    Component,
    ComponentContext,
    DiarizationSession,
    DiarizeOptions,
    Diarizer,
    EmptyConfig,
    EngineBase,
    KnownSpeaker,
    Segment,
    SpeakerTurn,
    SpeechOptions,
    SttCapabilities,
    SttEngine,
    TokenLogprob,
    Transcoder,
    TranscribeOptions,
    TtsCapabilities,
    TtsEngine,
    VadOptions,
    Voice,
    VoiceChoice,
    Word,
)
from voxgate.engines.stream import PcmStream
from voxgate.engines.windows import shift_segment, windows
from voxgate.errors import (
    AuthenticationError,
    BadGatewayError,
    EngineError,
    GatewayTimeoutError,
    InvalidRequestError,
    ModelNotFoundError,
    NotFoundError,
    OpenAIError,
    PayloadTooLargeError,
    RateLimitError,
    ServiceUnavailableError,
    UpstreamError,
)
from voxgate.models.sources import ModelSourceContext, ModelSourceError
from voxgate.plugins import hookimpl
from voxgate.redaction import redact_url, redact_urls
from voxgate.schema import ConfigBase, ConfigProblem
from voxgate.services.sentences import SentenceBuffer
from voxgate.state import StateStore, StateUnavailableError
from voxgate.state.memory import MemoryConfig, MemoryStore

__version__ = "0.1.0"  # the one place the version is written; pyproject.toml reads it

__all__ = [
    "AudioDecodeError",
    "AudioEncoder",
    "AuthenticationError",
    "BadGatewayError",
    "ChatProxy",
    "Component",
    "ComponentContext",
    "ConfigBase",
    "ConfigProblem",
    "DiarizationSession",
    "DiarizeOptions",
    "Diarizer",
    "EmptyConfig",
    "EngineBase",
    "EngineError",
    "EngineHandle",
    "GatewayTimeoutError",
    "InvalidRequestError",
    "KnownSpeaker",
    "MemoryConfig",
    "MemoryStore",
    "ModelNotFoundError",
    "ModelSourceContext",
    "ModelSourceError",
    "NotFoundError",
    "OpenAIError",
    "PayloadTooLargeError",
    "PcmAudio",
    "PcmStream",
    "RateLimitError",
    "RouteContext",
    "Segment",
    "SentenceBuffer",
    "ServerConfig",
    "ServiceUnavailableError",
    "SpeakerTurn",
    "SpeechOptions",
    "StateStore",
    "StateUnavailableError",
    "SttCapabilities",
    "SttEngine",
    "Task",
    "TokenLogprob",
    "Transcoder",
    "TranscribeOptions",
    "TtsCapabilities",
    "TtsEngine",
    "UpstreamError",
    "VadOptions",
    "Voice",
    "VoiceChoice",
    "Word",
    "__version__",
    "hookimpl",
    "join_path",
    "redact_url",
    "redact_urls",
    "shift_segment",
    "windows",
]
