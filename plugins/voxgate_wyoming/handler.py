"""One Wyoming connection: events in, engine work through ``RouteContext``, events out.

The framing is the ``wyoming`` package's (``AsyncEventHandler``); this module only decides
what each event means. Bad input (an unknown model, voice or language, audio over the upload
limit, events out of order) answers an ``error`` event and the connection stays usable;
anything unexpected is logged and answered with a generic ``error``, never a crash.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import numpy as np
import structlog
from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.info import Describe
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from voxgate import (
    InvalidRequestError,
    ModelNotFoundError,
    OpenAIError,
    PayloadTooLargeError,
    PcmAudio,
    RateLimitError,
    SentenceBuffer,
    ServiceUnavailableError,
)
from voxgate_wyoming.catalog import Catalog

if TYPE_CHECKING:
    import asyncio

    from wyoming.event import Event

    from voxgate import RouteContext

log = structlog.get_logger("voxgate.wyoming")

SAMPLES_PER_CHUNK = 1024  # what the reference servers send: 64 ms at 16 kHz
SAMPLE_WIDTHS = (1, 2, 3, 4)  # bytes; 8-bit PCM is unsigned, the others signed little-endian


class BadEventError(Exception):
    """An event the protocol does not allow here (``code`` says which rule)."""

    def __init__(self, message: str, code: str = "bad_event_order") -> None:
        super().__init__(message)
        self.code = code


def error_code(exc: OpenAIError) -> str:
    """A Wyoming ``error`` code for what the HTTP API would answer with a status."""
    if isinstance(exc, ModelNotFoundError):
        return "unknown_model"
    if isinstance(exc, PayloadTooLargeError):
        return "audio_too_long"
    if isinstance(exc, RateLimitError | ServiceUnavailableError):
        return "busy"
    if isinstance(exc, InvalidRequestError):
        return {"voice": "unknown_voice", "language": "unknown_language"}.get(
            exc.param or "", "invalid_request"
        )
    return exc.code or "engine_error"


class _Recording:
    """The audio of one ``audio-start`` … ``audio-stop``, as float32 at the first rate."""

    def __init__(self, rate: int, max_bytes: int) -> None:
        self.rate = rate
        self.max_bytes = max_bytes
        self.received = 0
        self.parts: list[np.ndarray] = []
        self.too_long = False

    def add(self, chunk: AudioChunk) -> None:
        if chunk.width not in SAMPLE_WIDTHS or not 1 <= chunk.channels <= 8 or chunk.rate <= 0:  # noqa: PLR2004
            msg = (
                f"Unsupported audio: width {chunk.width} bytes, {chunk.channels} channels, "
                f"rate {chunk.rate} Hz."
            )
            raise InvalidRequestError(msg, param="audio")
        self.received += len(chunk.audio)
        if self.received > self.max_bytes:
            self.too_long = True
            self.parts = []
            raise PayloadTooLargeError(self.max_bytes, self.received)
        audio = PcmAudio.from_pcm(chunk.audio, chunk.rate, chunk.channels, width=chunk.width)
        self.parts.append(audio.resample(self.rate).samples)

    def audio(self) -> PcmAudio:
        if not self.parts:
            return PcmAudio(np.zeros(0, dtype=np.float32), self.rate)
        return PcmAudio(np.concatenate(self.parts), self.rate)


class _TextStream:
    """A ``synthesize-start`` … ``synthesize-stop`` exchange."""

    def __init__(self, voice: SynthesizeVoice | None) -> None:
        self.voice = voice
        # Whole sentences: Wyoming streams one audio-start … audio-stop per sentence, and
        # RouteContext.speak already says each sentence's first clause first.
        self.sentences = SentenceBuffer(policy=None)
        self.failed = False


class WyomingHandler(AsyncEventHandler):
    """Serves one client connection; the server makes one per connection."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        context: RouteContext,
    ) -> None:
        super().__init__(reader, writer)
        self.context = context
        self.catalog = Catalog(context)
        self.max_bytes = context.config.server.max_upload_bytes
        self.transcribe: Transcribe | None = None
        self.recording: _Recording | None = None
        self.skipping_audio = False  # after an error mid-recording: drop it until audio-stop
        self.text_stream: _TextStream | None = None

    async def handle_event(self, event: Event) -> bool:
        """Answer one event; errors become ``error`` events and the connection stays open."""
        try:
            await self._dispatch(event)
        except OpenAIError as exc:
            await self._error(exc.message, error_code(exc))
        except BadEventError as exc:
            await self._error(str(exc), exc.code)
        except (KeyError, TypeError, ValueError) as exc:
            log.info("wyoming: malformed event", type=event.type, error=str(exc))
            await self._error(f"Malformed `{event.type}` event.", "bad_event")
        except (ConnectionError, OSError):
            return False
        except Exception:
            log.exception("wyoming: event failed", type=event.type)
            await self._error("The server failed; its log has the details.", "server_error")
        return True

    async def _error(self, text: str, code: str) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            await self.write_event(Error(text=text, code=code).event())

    async def _dispatch(self, event: Event) -> None:  # noqa: C901, PLR0912
        kind = event.type
        if Describe.is_type(kind):
            info = await self.catalog.info(streaming=True)
            await self.write_event(info.event())
        elif Ping.is_type(kind):
            await self.write_event(Pong(text=Ping.from_event(event).text).event())
        elif Transcribe.is_type(kind):
            transcribe = Transcribe.from_event(event)
            self.catalog.stt_model(transcribe.name)  # an unknown model fails now, not at the end
            self.transcribe = transcribe
        elif AudioStart.is_type(kind):
            start = AudioStart.from_event(event)
            if start.rate <= 0:
                raise InvalidRequestError(f"Bad audio rate {start.rate} Hz.", param="audio")
            self.recording = _Recording(start.rate, self.max_bytes)
            self.skipping_audio = False
        elif AudioChunk.is_type(kind):
            if self.skipping_audio:
                return
            if self.recording is None:
                raise BadEventError("`audio-chunk` before `audio-start`.")
            try:
                self.recording.add(AudioChunk.from_event(event))
            except OpenAIError:
                self.recording, self.skipping_audio, self.transcribe = None, True, None
                raise
        elif AudioStop.is_type(kind):
            if self.skipping_audio:
                self.skipping_audio = False
                return
            if self.recording is None:
                raise BadEventError("`audio-stop` before `audio-start`.")
            recording, pending = self.recording, self.transcribe
            self.recording, self.transcribe = None, None
            await self._transcribe(recording.audio(), pending or Transcribe())
        elif SynthesizeStart.is_type(kind):
            start_text = SynthesizeStart.from_event(event)
            self.text_stream = _TextStream(start_text.voice)
        elif SynthesizeChunk.is_type(kind):
            stream = self._text_stream("synthesize-chunk")
            text = SynthesizeChunk.from_event(event).text
            for sentence in stream.sentences.feed(text):
                await self._speak_in_stream(stream, sentence)
        elif SynthesizeStop.is_type(kind):
            stream = self._text_stream("synthesize-stop")
            self.text_stream = None
            for sentence in stream.sentences.flush():
                await self._speak_in_stream(stream, sentence)
            await self.write_event(SynthesizeStopped().event())
        elif Synthesize.is_type(kind):
            if self.text_stream is not None:
                return  # sent alongside a streamed text for older servers: already spoken
            synthesize = Synthesize.from_event(event)
            await self._speak(synthesize.text, synthesize.voice)
        # other events (wake, intent, select-program…) are not ours: dropped, as servers do

    def _text_stream(self, event: str) -> _TextStream:
        if self.text_stream is None:
            raise BadEventError(f"`{event}` before `synthesize-start`.")
        return self.text_stream

    # -- speech to text ----------------------------------------------------------------------

    async def _transcribe(self, audio: PcmAudio, transcribe: Transcribe) -> None:
        """``transcript-start``, a ``transcript-chunk`` per segment, ``transcript``, ``-stop``."""
        model = self.catalog.stt_model(transcribe.name)
        segments = await self.context.transcribe(model, audio, language=transcribe.language)
        language = transcribe.language
        parts: list[str] = []
        async with contextlib.aclosing(segments):
            await self.write_event(TranscriptStart(language=language).event())
            async for segment in segments:
                piece = segment.text.strip()
                if not piece:
                    continue
                delta = piece if not parts else " " + piece
                parts.append(delta)
                language = language or segment.language
                await self.write_event(TranscriptChunk(text=delta).event())
        text = "".join(parts)
        await self.write_event(Transcript(text=text, language=language).event())
        await self.write_event(TranscriptStop().event())

    # -- text to speech ----------------------------------------------------------------------

    async def _speak_in_stream(self, stream: _TextStream, sentence: str) -> None:
        if stream.failed:
            return
        try:
            await self._speak(sentence, stream.voice)
        except OpenAIError:
            stream.failed = True  # one error for the stream, not one per sentence
            raise

    async def _speak(self, text: str, wanted: SynthesizeVoice | None) -> None:
        """``audio-start``, an ``audio-chunk`` per 1024 samples as pieces come, ``audio-stop``."""
        if not text.strip():
            raise InvalidRequestError("There is no text to speak.", param="input")
        instance, voice = await self.catalog.resolve_voice(wanted)
        pieces = await self.context.speak(instance, voice, text)
        started: int | None = None
        async with contextlib.aclosing(pieces):
            async for piece in pieces:
                if started is None:
                    started = piece.sample_rate
                    await self.write_event(AudioStart(rate=started, width=2, channels=1).event())
                data = piece.resample(started).to_pcm16()
                step = SAMPLES_PER_CHUNK * 2
                for begin in range(0, len(data), step):
                    chunk = AudioChunk(
                        rate=started, width=2, channels=1, audio=data[begin : begin + step]
                    )
                    await self.write_event(chunk.event())
        if started is not None:
            await self.write_event(AudioStop().event())
