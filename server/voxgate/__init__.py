"""voxgate: a self-hosted, OpenAI-compatible audio server.

This module is the public plugin API: everything a plugin imports comes from here.
"""

from voxgate.engines.audio import PcmAudio
from voxgate.engines.base import (
    AudioDecodeError,
    AudioEncoder,
    ChatProxy,
    Component,
    ComponentContext,
    EmptyConfig,
    EngineBase,
    Segment,
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
from voxgate.schema import ConfigBase, ConfigProblem

__version__ = "0.1.0"

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
    "EmptyConfig",
    "EngineBase",
    "EngineError",
    "GatewayTimeoutError",
    "InvalidRequestError",
    "ModelNotFoundError",
    "ModelSourceContext",
    "ModelSourceError",
    "NotFoundError",
    "OpenAIError",
    "PayloadTooLargeError",
    "PcmAudio",
    "RateLimitError",
    "Segment",
    "ServiceUnavailableError",
    "SpeechOptions",
    "SttCapabilities",
    "SttEngine",
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
]
