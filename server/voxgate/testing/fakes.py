"""Fake engines and a stdlib-only WAV transcoder, registered as a plugin: ``plugins=[fakes]``.

They let core and API tests run without model weights, yet they go through the same hooks,
pool and worker threads as real engines. ``delay`` and ``gate`` make timing observable.
"""

from __future__ import annotations

import io
import threading
import time
import wave
from typing import TYPE_CHECKING, Annotated, ClassVar

import msgspec
import numpy as np

from voxgate.engines.audio import PcmAudio
from voxgate.engines.base import (
    AudioDecodeError,
    AudioEncoder,
    DiarizationSession,
    DiarizeOptions,
    Diarizer,
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
    Voice,
    VoiceChoice,
    Word,
)
from voxgate.engines.windows import shift_segment, windows
from voxgate.errors import InvalidRequestError, ServiceUnavailableError
from voxgate.plugins import hookimpl
from voxgate.schema import ConfigBase

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from numpy.typing import NDArray

    from voxgate.engines.stream import PcmStream

# Events tests can use to hold an engine mid-work: name -> threading.Event (set = proceed).
GATES: dict[str, threading.Event] = {}


class FakeSttConfig(ConfigBase):
    """Scripted segments, one per ``segment_seconds`` of audio (at least one).

    Each text gets a leading space, as Whisper's segments have; ``leading_space = false``
    yields them bare, as engines that segment differently do.
    """

    texts: list[str] = msgspec.field(default_factory=lambda: ["Hello from the fake engine."])
    leading_space: bool = True
    segment_seconds: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    delay: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    gate: str | None = None
    fail_load: bool = False
    translate: bool = True
    languages: list[str] | None = None
    window_seconds: Annotated[float, msgspec.Meta(ge=0)] = 0.0  # >0: read uploads in windows


class FakeSttEngine(SttEngine[FakeSttConfig]):
    """Yields the configured texts as segments; counts loads and generator closes."""

    kind: ClassVar[str] = "fake-stt"
    capabilities: ClassVar[SttCapabilities] = SttCapabilities(
        translate=True, word_timestamps=True, logprobs=True
    )

    loads = 0
    steps = 0
    closed = 0
    largest_window = 0  # samples, with ``window_seconds``
    last_options: TranscribeOptions | None = None

    def load(self) -> None:
        cfg = self.config
        if cfg.fail_load:
            msg = "fake load failure"
            raise RuntimeError(msg)
        type(self).loads += 1
        self.loaded = True

    def unload(self) -> None:
        self.loaded = False

    def loaded_capabilities(self) -> SttCapabilities:
        cfg = self.config
        return msgspec.structs.replace(
            self.capabilities, translate=cfg.translate, languages=cfg.languages
        )

    def stream_window_seconds(self) -> float:
        return self.config.window_seconds

    def transcribe_stream(self, audio: PcmStream, options: TranscribeOptions) -> Iterator[Segment]:
        """With ``window_seconds``: one window at a time, as faster-whisper reads uploads."""
        if not self.config.window_seconds:
            yield from super().transcribe_stream(audio, options)
            return
        number = 0
        for offset, piece in windows(audio, self.config.window_seconds):
            type(self).largest_window = max(type(self).largest_window, len(piece))
            for segment in self.transcribe(piece, options):
                yield shift_segment(segment, offset, number)
                number += 1

    def transcribe(self, audio: PcmAudio, options: TranscribeOptions) -> Iterator[Segment]:
        cfg = self.config
        type(self).last_options = options
        count = max(1, int(audio.duration // cfg.segment_seconds))
        try:
            for index in range(count):
                _wait(cfg.gate, cfg.delay)
                type(self).steps += 1
                text = cfg.texts[index % len(cfg.texts)]
                if cfg.leading_space:
                    text = " " + text
                start, end = index * cfg.segment_seconds, (index + 1) * cfg.segment_seconds
                parts = text.split()
                step = (end - start) / max(1, len(parts))
                words = [
                    Word(word=" " + w, start=start + i * step, end=start + (i + 1) * step)
                    for i, w in enumerate(parts)
                ]
                logprobs = [
                    TokenLogprob(token=w.word, logprob=-0.25, bytes=list(w.word.encode()))
                    for w in words
                ]
                yield Segment(
                    id=index,
                    start=start,
                    end=end,
                    text=text,
                    tokens=list(range(len(parts))),
                    words=words if options.word_timestamps else None,
                    logprobs=logprobs if options.logprobs else None,
                    language=options.language or "en",
                )
        finally:
            type(self).closed += 1


class FakeTtsConfig(ConfigBase):
    """A sine tone per word; each word is one chunk, so streaming is observable."""

    sample_rate: Annotated[int, msgspec.Meta(ge=8000, le=48000)] = 24_000
    frequency: Annotated[float, msgspec.Meta(gt=0)] = 440.0
    seconds_per_word: Annotated[float, msgspec.Meta(gt=0)] = 0.1
    delay: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    gate: str | None = None
    voices: list[str] = msgspec.field(default_factory=lambda: ["tone", "low"])


class FakeTtsEngine(TtsEngine[FakeTtsConfig]):
    """A tone generator: ``low`` is an octave down; speed shortens words natively."""

    kind: ClassVar[str] = "fake-tts"
    capabilities: ClassVar[TtsCapabilities] = TtsCapabilities(native_speed=True)

    steps = 0
    closed = 0
    said: ClassVar[list[str]] = []  # each text ``synthesize`` was given, in order

    def load(self) -> None:
        self.loaded = True

    def voices(self) -> list[Voice]:
        return [Voice(id=v, name=v.title(), languages=["en"]) for v in self.config.voices]

    def check(self, voice: VoiceChoice, options: SpeechOptions) -> None:  # noqa: ARG002
        cfg = self.config
        if voice.voice_id not in cfg.voices:
            msg = f"Voice `{voice.voice_id}` is not one of {', '.join(cfg.voices)}."
            raise InvalidRequestError(msg, param="voice")

    def synthesize(
        self, text: str, voice: VoiceChoice, options: SpeechOptions
    ) -> Iterator[PcmAudio]:
        cfg = self.config
        self.check(voice, options)
        frequency = cfg.frequency / 2 if voice.voice_id == "low" else cfg.frequency
        type(self).said.append(text)
        try:
            for _word in text.split():
                _wait(cfg.gate, cfg.delay)
                type(self).steps += 1
                seconds = cfg.seconds_per_word / options.speed
                t = np.arange(round(cfg.sample_rate * seconds), dtype=np.float32) / cfg.sample_rate
                yield PcmAudio(
                    (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), cfg.sample_rate
                )
        finally:
            type(self).closed += 1


def _wait(gate: str | None, delay: float) -> None:
    if gate is not None:
        GATES.setdefault(gate, threading.Event()).wait(timeout=30)
    if delay:
        time.sleep(delay)


class _WavEncoder(AudioEncoder):
    media_type: ClassVar[str] = "audio/wav"

    def __init__(self, sample_rate: int, *, header: bool) -> None:
        self.sample_rate = sample_rate
        self.header = header
        self.started = False

    def encode(self, audio: PcmAudio) -> bytes:
        data = audio.resample(self.sample_rate).to_pcm16()
        if self.header and not self.started:
            self.started = True
            return _streaming_wav_header(self.sample_rate) + data
        return data

    def finish(self) -> bytes:
        return b""


def _streaming_wav_header(sample_rate: int) -> bytes:
    size = 0xFFFFFFFF - 36  # unknown length: the largest size, as streaming servers send
    header = io.BytesIO()
    header.write(b"RIFF" + (size + 36).to_bytes(4, "little") + b"WAVE")
    header.write(b"fmt " + (16).to_bytes(4, "little") + (1).to_bytes(2, "little"))
    header.write((1).to_bytes(2, "little") + sample_rate.to_bytes(4, "little"))
    header.write((sample_rate * 2).to_bytes(4, "little") + (2).to_bytes(2, "little"))
    header.write((16).to_bytes(2, "little"))
    header.write(b"data" + size.to_bytes(4, "little"))
    return header.getvalue()


class WavTranscoder(Transcoder):
    """Reads PCM WAV with the stdlib; writes ``wav`` and ``pcm``. Enough for core tests."""

    kind: ClassVar[str] = "wav"
    formats: ClassVar[frozenset[str]] = frozenset({"wav", "pcm"})

    def decode(self, data: bytes, sample_rate: int) -> PcmAudio:
        try:
            with wave.open(io.BytesIO(data)) as reader:
                if reader.getsampwidth() != 2:
                    msg = "only 16-bit WAV is supported by the test transcoder"
                    raise AudioDecodeError(msg)
                frames = reader.readframes(reader.getnframes())
                audio = PcmAudio.from_pcm16(frames, reader.getframerate(), reader.getnchannels())
        except (wave.Error, EOFError) as exc:
            msg = f"not a readable WAV file: {exc}"
            raise AudioDecodeError(msg) from exc
        if len(audio) == 0:
            msg = "the audio file is empty"
            raise AudioDecodeError(msg)
        return audio.resample(sample_rate)

    def encoder(self, audio_format: str, sample_rate: int) -> AudioEncoder:
        if audio_format not in self.formats:
            msg = f"the test transcoder cannot encode {audio_format}"
            raise ValueError(msg)
        return _WavEncoder(sample_rate, header=audio_format == "wav")


def wav_bytes(audio: PcmAudio) -> bytes:
    """A complete 16-bit mono WAV file for ``audio`` (test uploads)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(audio.sample_rate)
        writer.writeframes(audio.to_pcm16())
    return buffer.getvalue()


def tone(seconds: float, sample_rate: int = 16_000, frequency: float = 440.0) -> PcmAudio:
    """A sine tone, the simplest deterministic test audio."""
    t = np.arange(round(seconds * sample_rate), dtype=np.float32) / sample_rate
    return PcmAudio((0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), sample_rate)


class FakeDiarizerConfig(ConfigBase):
    """Speakers take turns every ``turn_seconds`` of audio, in the order of ``labels``."""

    turn_seconds: Annotated[float, msgspec.Meta(gt=0)] = 1.5
    labels: list[str] = msgspec.field(default_factory=lambda: ["spk0", "spk1"])
    unavailable: str | None = None  # load() refuses with this 503 message


class FakeDiarizer(Diarizer[FakeDiarizerConfig]):
    """Alternating turns by the clock; records what it was fed and which speakers it knew.

    A known speaker takes the label of the speaker in the same position (the first known
    name names the first speaker), so tests can see names reach the response.
    """

    kind: ClassVar[str] = "fake-diarize"

    fed_samples = 0
    largest_block = 0
    last_options: DiarizeOptions | None = None

    def load(self) -> None:
        if self.config.unavailable:
            raise ServiceUnavailableError(self.config.unavailable)
        self.loaded = True

    def session(self, options: DiarizeOptions) -> DiarizationSession:
        type(self).last_options = options
        labels = list(self.config.labels)
        for index, known in enumerate(options.known_speakers[: len(labels)]):
            labels[index] = known.name
        return _FakeDiarization(self, labels)


class _FakeDiarization(DiarizationSession):
    def __init__(self, diarizer: FakeDiarizer, labels: list[str]) -> None:
        self._diarizer = diarizer
        self._labels = labels
        self._samples = 0

    def feed(self, samples: NDArray[np.float32]) -> None:
        self._samples += len(samples)
        FakeDiarizer.fed_samples += len(samples)
        FakeDiarizer.largest_block = max(FakeDiarizer.largest_block, len(samples))

    def finish(self) -> list[SpeakerTurn]:
        seconds = self._samples / self._diarizer.sample_rate
        step = self._diarizer.config.turn_seconds
        count = max(1, int(np.ceil(seconds / step)))
        return [
            SpeakerTurn(
                start=i * step,
                end=min(seconds, (i + 1) * step),
                speaker=self._labels[i % len(self._labels)],
            )
            for i in range(count)
        ]


@hookimpl
def register_diarizers(register: Callable[[type[Diarizer]], None]) -> None:
    register(FakeDiarizer)


@hookimpl
def register_stt_engines(register: Callable[[type[SttEngine]], None]) -> None:
    register(FakeSttEngine)


@hookimpl
def register_tts_engines(register: Callable[[type[TtsEngine]], None]) -> None:
    register(FakeTtsEngine)


@hookimpl
def register_transcoders(register: Callable[[type[Transcoder]], None]) -> None:
    register(WavTranscoder)
