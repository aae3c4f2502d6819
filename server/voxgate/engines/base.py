"""The classes plugin authors subclass: engines, transcoders and chat proxies, with their options.

Compute is a plain sync generator run in the instance's worker thread; I/O components (the
chat proxy) are async. Heavy imports (torch, onnxruntime, ctranslate2) belong in ``load()``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, get_args, get_origin

import msgspec
from typing_extensions import TypeVar

from voxgate.engines.stream import PcmStream
from voxgate.schema import ConfigBase

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator
    from pathlib import Path

    import numpy as np
    from numpy.typing import NDArray

    from voxgate.engines.audio import PcmAudio


class EmptyConfig(ConfigBase):
    """The ``Config`` of a component that takes no options."""


@dataclass(frozen=True)
class ComponentContext:
    """What a component may use besides its own config: where models live and are cached."""

    instance: str
    cache_dir: Path
    resolve_model_path: Callable[[str], Path]

    def model_path(self, spec: str) -> Path:
        """Resolve a model source (``pkg:…``, ``hf:…`` or a local path) to files on disk."""
        return self.resolve_model_path(spec)


ConfigT_co = TypeVar("ConfigT_co", bound=ConfigBase, covariant=True, default=ConfigBase)
"""A component's config type: ``class PiperEngine(TtsEngine[PiperConfig])``.

Covariant, and ``ConfigBase`` when left out, so a bare ``TtsEngine`` in an annotation means
"any TTS engine" (``type[TtsEngine]`` accepts ``PiperEngine``). A subclass written without a
type argument still decodes its table with ``EmptyConfig``: ``Config`` is inherited.
"""


class Component(ABC, Generic[ConfigT_co]):
    """What every registered kind shares: a ``kind`` name and a forbid-unknown-fields ``Config``.

    Give the config type as the type argument and ``self.config`` is typed with it::

        class PiperEngine(TtsEngine[PiperConfig]):
            kind = "piper"

    ``Config``, the Struct voxgate decodes the instance's TOML table into, is derived from
    the type argument when the class does not set it; a subclass without one inherits its
    parent's (``EmptyConfig`` at the top: the table takes no options). Setting ``Config``
    explicitly still works, as long as it is the type argument or a subclass of it.
    """

    kind: ClassVar[str]
    Config: ClassVar[type[ConfigBase]] = EmptyConfig

    def __init__(self, config: ConfigT_co, context: ComponentContext) -> None:
        self.config: ConfigT_co = config
        self.context = context

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Set ``Config`` from the type argument (``TtsEngine[PiperConfig]``) when not given."""
        super().__init_subclass__(**kwargs)
        argument = _config_argument(cls)
        if argument is None:
            return
        explicit = cls.__dict__.get("Config")
        if explicit is None:
            cls.Config = argument
        elif not (isinstance(explicit, type) and issubclass(explicit, argument)):
            msg = (
                f"{cls.__qualname__}.Config is {explicit!r}, but the class is declared with "
                f"config type {argument.__qualname__}: set one, or make them agree"
            )
            raise TypeError(msg)


def _config_argument(cls: type) -> type[ConfigBase] | None:
    """The concrete config type ``cls`` gives a ``Component`` base, if any.

    ``None`` for a bare subclass (``class X(TtsEngine)``) and for a generic intermediate
    (``class Base(TtsEngine[C])`` with a type variable ``C``): both keep the inherited ``Config``.
    """
    for base in cls.__dict__.get("__orig_bases__", ()):
        origin = get_origin(base)
        if not (isinstance(origin, type) and issubclass(origin, Component)):
            continue
        args = get_args(base)
        if not args or isinstance(args[0], TypeVar):
            continue
        argument = args[0]
        if not (isinstance(argument, type) and issubclass(argument, ConfigBase)):
            msg = (
                f"{cls.__qualname__}: the config type argument of {origin.__qualname__}[...] "
                f"must be a ConfigBase subclass, got {argument!r}"
            )
            raise TypeError(msg)
        return argument
    return None


class EngineBase(Component[ConfigT_co]):
    """An engine instance: ``load()`` once before use, ``unload()`` to free its memory."""

    @abstractmethod
    def load(self) -> None:
        """Load weights; runs in the instance's worker thread, may block for seconds."""

    def unload(self) -> None:
        """Free memory; the pool calls it on idle TTL and shutdown, then may ``load()`` again."""


# -- speech to text ---------------------------------------------------------------------------


class SttCapabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What an STT engine can do; the service answers 400 for anything it cannot."""

    translate: bool = False
    word_timestamps: bool = False
    logprobs: bool = False
    languages: list[str] | None = None  # None: any language the model knows


class VadOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Voice-activity segmentation a request asked for (``chunking_strategy``).

    Mirrors OpenAI's ``server_vad`` object: speech probability ``threshold``, the silence that
    ends a speech chunk, and the audio kept before each chunk's onset.
    """

    threshold: float = 0.5
    silence_duration_ms: int = 200
    prefix_padding_ms: int = 300


class TranscribeOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Per-request options the service hands to ``SttEngine.transcribe``.

    ``vad`` is ``None`` when the request did not ask for VAD chunking: the engine's own
    configuration decides. ``logprobs`` asks for ``Segment.logprobs``; ``extra`` carries
    engine-specific request parameters (documented per engine).
    """

    task: Literal["transcribe", "translate"] = "transcribe"
    language: str | None = None
    prompt: str | None = None
    temperature: float = 0.0
    word_timestamps: bool = False
    logprobs: bool = False
    vad: VadOptions | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class Word(msgspec.Struct, frozen=True, kw_only=True):
    """A word with its timing; ``probability`` is the decoder's confidence."""

    word: str
    start: float
    end: float
    probability: float = 1.0


class TokenLogprob(msgspec.Struct, frozen=True, kw_only=True):
    """A decoded token with its log probability (``include[]=logprobs``)."""

    token: str
    logprob: float
    bytes: list[int]


class Segment(msgspec.Struct, frozen=True, kw_only=True):
    """One decoded segment, carrying every field OpenAI's verbose_json segment requires."""

    id: int
    start: float
    end: float
    text: str
    seek: int = 0
    tokens: list[int] = msgspec.field(default_factory=list)
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 1.0
    no_speech_prob: float = 0.0
    words: list[Word] | None = None
    logprobs: list[TokenLogprob] | None = None
    language: str | None = None
    language_probability: float | None = None


class SttEngine(EngineBase[ConfigT_co]):
    """Speech to text: turns ``PcmAudio`` at ``sample_rate`` into segments, as they are decoded."""

    capabilities: ClassVar[SttCapabilities] = SttCapabilities()
    sample_rate: ClassVar[int] = 16_000

    def loaded_capabilities(self) -> SttCapabilities:
        """What this loaded instance can do; the class's ``capabilities`` unless overridden.

        Override when it depends on the model: an English-only Whisper cannot translate.
        """
        return self.capabilities

    @abstractmethod
    def transcribe(self, audio: PcmAudio, options: TranscribeOptions) -> Iterator[Segment]:
        """Yield segments in order; the caller may stop early (client gone) and close it."""

    def transcribe_stream(self, audio: PcmStream, options: TranscribeOptions) -> Iterator[Segment]:
        """``transcribe`` for an upload decoded as it is read (what HTTP uploads arrive as).

        By default the stream is read whole, then ``transcribe`` runs on it: the upload is
        held decoded while it is transcribed. An engine that reads it in windows
        (``voxgate.windows(audio, seconds)``) overrides this and ``stream_window_seconds``,
        so a four-hour upload never lives decoded at once.
        """
        yield from self.transcribe(audio.read_all(), options)

    def stream_window_seconds(self) -> float:
        """The longest window ``transcribe_stream`` reads at once; ``0``: the whole upload.

        The server's ``max_decoded_audio_bytes`` budget counts two windows a request (the
        one being transcribed and the one read ahead) or, for ``0``, the whole upload.
        """
        return 0.0


# -- speaker diarization ----------------------------------------------------------------------


@dataclass(frozen=True)
class KnownSpeaker:
    """A speaker a request names (``known_speaker_names[]``) with a clip of their voice.

    ``audio`` is the decoded ``known_speaker_references[]`` clip (2-10 s), mono float32 at
    the diarizer's ``sample_rate``.
    """

    name: str
    audio: PcmAudio


@dataclass(frozen=True)
class DiarizeOptions:
    """Per-request diarization options: the speakers the client already knows, if any."""

    known_speakers: tuple[KnownSpeaker, ...] = ()


class SpeakerTurn(msgspec.Struct, frozen=True, kw_only=True):
    """A stretch of speech by one speaker, in seconds from the start of the upload.

    ``speaker`` is the diarizer's own label: a known speaker's name when it matched one,
    anything else (``"0"``, ``"spk1"``) for the speakers it found. The service renames the
    latter ``A``, ``B``, ... in order of first appearance.
    """

    start: float
    end: float
    speaker: str


class DiarizationSession(ABC):
    """One request's diarization: audio goes in as the STT engine reads it, turns come out.

    ``feed`` receives the upload's samples in order, a block at a time, in the STT engine's
    worker thread, while the engine transcribes; it should keep only small per-window results
    (speaker embeddings), never the audio, so that an hour diarizes in bounded memory.
    ``finish`` runs once after the last block and returns the turns in time order.
    """

    @abstractmethod
    def feed(self, samples: NDArray[np.float32]) -> None:
        """The next samples of the upload (mono float32 at the diarizer's ``sample_rate``)."""

    @abstractmethod
    def finish(self) -> list[SpeakerTurn]:
        """Every speaker turn found, in time order."""


class Diarizer(EngineBase[ConfigT_co]):
    """Says who spoke when: ``[diarize.<name>]`` instances, used after an STT engine.

    A ``[models]`` route with a ``diarize`` instance (``{ stt = "whisper-base", diarize =
    "speakers" }``) makes that model id answer ``response_format=diarized_json``. The service
    aligns the turns with the STT engine's word timestamps, so a segment never splits a word.
    """

    sample_rate: ClassVar[int] = 16_000

    @abstractmethod
    def session(self, options: DiarizeOptions) -> DiarizationSession:
        """A fresh session for one request; called in a worker thread after ``load()``.

        Raise ``InvalidRequestError`` for options it cannot honour (a reference clip with no
        speech), before any audio is read.
        """


# -- text to speech ---------------------------------------------------------------------------


class TtsCapabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What a TTS engine does natively; the service fills the gaps (e.g. a tempo filter)."""

    native_speed: bool = True
    # the speeds the engine renders faithfully; outside them the service's tempo filter works
    min_speed: float = 0.25
    max_speed: float = 4.0
    instructions: bool = False
    blends: bool = False

    def speed_is_native(self, speed: float) -> bool:
        """Can the engine itself say it at ``speed``?"""
        return self.native_speed and self.min_speed <= speed <= self.max_speed


class Voice(msgspec.Struct, frozen=True, kw_only=True):
    """A voice the engine offers (``GET /v1/audio/voices``)."""

    id: str
    name: str
    languages: list[str] = msgspec.field(default_factory=list)


class VoiceChoice(msgspec.Struct, frozen=True, kw_only=True):
    """The engine-level voice a request resolved to (``map_voice``'s answer)."""

    voice_id: str
    blend: list[tuple[str, float]] | None = None
    speaker: str | int | None = None
    speaker_wav: list[str] | None = None
    language: str | None = None


class SpeechOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Per-request synthesis options; ``speed`` is only passed when the engine has it natively."""

    speed: float = 1.0
    language: str | None = None
    instructions: str | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class TtsEngine(EngineBase[ConfigT_co]):
    """Text to speech: yields ``PcmAudio`` chunks; the service splits text into sentences first."""

    capabilities: ClassVar[TtsCapabilities] = TtsCapabilities()

    @abstractmethod
    def voices(self) -> list[Voice]:
        """The voices this instance offers; called after ``load()``."""

    @abstractmethod
    def synthesize(
        self, text: str, voice: VoiceChoice, options: SpeechOptions
    ) -> Iterator[PcmAudio]:
        """Yield audio for ``text`` in order, float32 mono at the engine's own rate."""

    def check(self, voice: VoiceChoice, options: SpeechOptions) -> None:
        """Raise ``InvalidRequestError`` if this engine cannot speak with ``voice`` and ``options``.

        Lets callers that have no text yet (chat replies) fail before their response starts.
        The default synthesizes one short word and throws it away; engines override it with
        a check that costs nothing.
        """
        chunks = iter(self.synthesize("Hi.", voice, options))
        try:
            next(chunks, None)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()


# -- audio transcoding ------------------------------------------------------------------------


class AudioDecodeError(ValueError):
    """The bytes are not audio this transcoder can read (empty, truncated, not audio)."""


class AudioEncoder(ABC):
    """Encodes one response's audio, chunk by chunk, into one stream of ``media_type`` bytes."""

    media_type: ClassVar[str]

    @abstractmethod
    def encode(self, audio: PcmAudio) -> bytes:
        """Bytes ready to send for this chunk (may be empty while the codec buffers)."""

    @abstractmethod
    def finish(self) -> bytes:
        """Flush the codec and return the tail of the stream."""


class Transcoder(Component[ConfigT_co]):
    """Decodes uploads from their bytes and stream-encodes responses (kind ``pyav`` built in)."""

    formats: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def decode(self, data: bytes, sample_rate: int) -> PcmAudio:
        """Decode any supported container by sniffing ``data``; raise ``AudioDecodeError``."""

    def open(self, data: bytes, sample_rate: int) -> PcmStream:
        """Check ``data`` and return its audio as a stream that decodes as it is read.

        Called before the engine queue admits the request, so it should cost little: probe
        the container (is it audio, how long is it; ``AudioDecodeError`` for what ``decode``
        would refuse) and decode nothing yet. The default decodes everything at once, as
        ``decode`` does; the ``pyav`` transcoder probes and decodes lazily.
        """
        return PcmStream.from_audio(self.decode(data, sample_rate))

    @abstractmethod
    def encoder(self, audio_format: str, sample_rate: int) -> AudioEncoder:
        """A fresh streaming encoder for one response in ``audio_format`` at ``sample_rate``."""

    def tempo(self, audio: PcmAudio, factor: float) -> PcmAudio:
        """``audio`` ``factor`` times faster at the same pitch, for engines without speed.

        Optional: a transcoder without it makes such engines answer 400 for ``speed``.
        """
        raise NotImplementedError


# -- chat proxy -------------------------------------------------------------------------------


class ChatProxy(Component[ConfigT_co]):
    """Forwards OpenAI chat bodies to an upstream LLM; async because it is pure I/O.

    Failures are ``OpenAIError``s: the upstream's own 4xx passed through (``UpstreamError``),
    ``BadGatewayError`` when it cannot be reached, ``GatewayTimeoutError`` when it is too slow.
    """

    async def start(self) -> None:
        """Open pooled connections; called once in the app's lifespan."""

    async def aclose(self) -> None:
        """Close connections at shutdown."""

    def check_ready(self) -> None:
        """Raise an ``OpenAIError`` (503) if requests cannot be forwarded, e.g. no upstream URL.

        Called before any input audio is transcribed, so a misconfigured server fails fast.
        """

    @abstractmethod
    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """One non-streaming chat completion."""

    @abstractmethod
    def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The chunks of a streaming chat completion, parsed from SSE (``[DONE]`` ends it).

        The request is sent on the first ``anext``; upstream errors surface there, before the
        caller has sent anything to its own client.
        """
