"""a15t's live transcription protocol, framework-free: client frames in, transcript messages out.

The WebSocket handler (``voxgate.api.live``) gives ``LiveSession.run`` a function returning
the client's frames and one sending text; everything else happens here:

- The first frame configures the session (``LiveConfig``, over the query parameters). Model,
  language and every setting are checked, and the engine loaded, before any audio is taken.
- Audio is decoded, resampled to 16 kHz and judged by Silero (``TurnDetector``) in a worker
  thread, batch after batch in arrival order, so the event loop never waits on it.
- Each utterance gets exactly one ``FinalTranscript``; one worker sends them in utterance
  order. Utterances longer than ``max_utterance_ms`` are cut at a quiet point and finalized
  in pieces, so memory and latency stay bounded; only the open utterance and the prefix
  padding before the next one are kept.
- While someone speaks, a ``PartialTranscript`` of the utterance so far after every
  ``partial_interval_ms`` of new audio (resting after each as long as it took), and one as
  soon as a pause begins (``PAUSE_MS``). At most one runs at a time (a due one is skipped,
  never queued), none starts while a final waits, and none is sent after its utterance's
  final. If the pause turns out to be the end of the utterance, the pause transcription
  already covers all its speech and becomes the final: no second decoding. One that covers
  less is left to finish (an engine cannot drop its step in flight, so cancelling would not
  free it sooner) and is sent as a partial if it is done before the final.
- A final that finds the engine's queue full retries for ``FINAL_RETRY_S``; only then does
  the session end (``1013``): finals are never dropped quietly. A partial is just skipped.
- ``{"done": true}`` flushes: the open utterance is finalized, every final is sent, and the
  socket closes normally. Anything the client sends after it is ignored.
- The client leaving cancels everything; engine generators are closed and their slots freed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from voxgate.engines.audio import PcmAudio
from voxgate.engines.windows import quiet_cuts
from voxgate.errors import EngineError, InvalidRequestError, OpenAIError, RateLimitError
from voxgate.services.realtime import stt
from voxgate.services.realtime.buffer import AudioBuffer
from voxgate.services.realtime.live_ingest import Ingest, Step
from voxgate.services.realtime.live_protocol import (
    CONFIG_KEYS,
    INTERNAL_ERROR,
    NORMAL,
    POLICY_VIOLATION,
    SAMPLES_PER_MS,
    UNSUPPORTED_DATA,
    Close,
    Gone,
    Refused,
    close_code,
    config_error,
    reason,
    transcript_message,
)
from voxgate.services.realtime.vad import VAD_RATE, WINDOW, SpeechStarted
from voxgate.wire.decoding import decode_json
from voxgate.wire.live import FinalTranscript, LiveConfig, LiveError, LiveMessage, PartialTranscript

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Mapping

    import numpy as np
    from numpy.typing import NDArray

    from voxgate.engines.base import Segment
    from voxgate.runtime import Runtime

log = structlog.get_logger("voxgate.live")

PAUSE_MS = 160  # a pause this long starts a transcription that may become the final
TAIL_MS = 160  # audio kept after the end of speech for the final (Silero ends speech early)
CONFIG_TIMEOUT_S = 10.0
FINAL_RETRY_S = 30.0  # how long a final retries when the engine's queue is full
TASK_PREFIX = "voxgate-live:"  # every task a session starts is named so
MAX_QUEUED_FRAMES = 256  # then the socket is not read: TCP backpressure on a fast client

Frame = str | bytes | None  # None: the client went away


# -- utterances --------------------------------------------------------------------------------


@dataclass(eq=False)
class _Utterance:
    begin: int  # first sample transcribed: the onset minus the prefix padding
    onset: int  # where speech started: the messages' audio_start
    next_partial: int  # the cadence asks for a partial once the audio reaches this
    covered: int  # speech end the newest partial transcription includes
    result: tuple[int, list[Segment]] | None = None  # (covered, segments) of the latest partial
    finalized: bool = False  # its final is queued
    final_sent: bool = False  # its final went out: no partial may follow


@dataclass(eq=False)
class _Partial:
    utterance: _Utterance
    covers: int  # speech end inside its audio
    task: asyncio.Task[list[Segment] | None] | None = None
    adopted: bool = False  # it became its utterance's final


@dataclass(eq=False)
class _Final:
    utterance: _Utterance
    begin: int  # where its transcribed audio starts
    onset: int
    speech_end: int
    audio: NDArray[np.float32]
    adopted: asyncio.Task[list[Segment] | None] | None = None  # a partial covering it all
    segments: list[Segment] | None = None  # a finished partial covering it all
    queued: float = 0.0  # monotonic time


class LiveSession:
    """One client's live transcription; ``run`` drives it from the first frame to the close."""

    def __init__(
        self,
        runtime: Runtime,
        query: Mapping[str, str],
        send: Callable[[str], Awaitable[None]],
    ) -> None:
        self._runtime = runtime
        self._query = query
        self._send_text = send
        self._send_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._outcome: asyncio.Future[Close | None] | None = None
        self.config: LiveConfig | None = None
        self._words = True
        # audio and utterance state, touched only on the event loop
        self._audio: asyncio.Queue[bytes | None] = asyncio.Queue(MAX_QUEUED_FRAMES)
        self._finals: asyncio.Queue[_Final | None] = asyncio.Queue()
        self._buffer = AudioBuffer(VAD_RATE)
        self._utterance: _Utterance | None = None
        self._partial: _Partial | None = None
        self._pending_finals = 0
        self._position = 0  # samples judged by the VAD
        self._speech_end = 0
        self._last_end = 0  # where the previous utterance's speech ended
        self._rest_until = 0.0  # monotonic time before which the cadence starts no partial
        self._done = False
        self.finals_sent = 0
        self.partials_sent = 0

    # -- driving ---------------------------------------------------------------------------

    async def run(self, receive: Callable[[], Awaitable[Frame]]) -> Close | None:
        """Serve the session; how to close the socket, or ``None`` when the client left."""
        loop = asyncio.get_running_loop()
        self._outcome = loop.create_future()
        started = time.monotonic()
        try:
            try:
                config = await self._configure(receive)
            except Refused as refused:
                log.info("live session refused", error=refused.error.message)
                with contextlib.suppress(Gone):
                    await self._send(LiveError(error=refused.error.detail()))
                return Close(refused.code, reason(refused.error.message))
            except Gone:
                return None
            log.info(
                "live session started",
                model=config.model,
                sample_rate=config.sample_rate,
                encoding=config.encoding,
            )
            self._spawn(self._guard(self._read(receive)), "read")
            self._spawn(self._guard(self._process(config)), "vad")
            self._spawn(self._guard(self._finalize()), "finals")
            outcome = await self._outcome
            log.info(
                "live session ended",
                close=outcome.code if outcome else "client left",
                finals=self.finals_sent,
                partials=self.partials_sent,
                audio_seconds=round(self._buffer.end / VAD_RATE, 2),
                seconds=round(time.monotonic() - started, 2),
            )
            return outcome
        finally:
            await self._cancel_all()

    def _finish(self, outcome: Close | None) -> None:
        if self._outcome is not None and not self._outcome.done():
            self._outcome.set_result(outcome)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"{TASK_PREFIX}{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _cancel_all(self) -> None:
        """Cancel every task (engine streams close in their ``finally``) and wait for them."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _guard(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a session task; the client leaving or any failure ends the session."""
        try:
            await work
        except Gone:
            self._finish(None)
        except OpenAIError as exc:
            await self._fail(exc, close_code(exc))
        except Exception:
            log.exception("live session failed")
            error = EngineError("The server had an error; the server log has the details.")
            await self._fail(error, INTERNAL_ERROR)

    async def _fail(self, error: OpenAIError, code: int) -> None:
        with contextlib.suppress(Gone):
            await self._send(LiveError(error=error.detail()))
        self._finish(Close(code, reason(error.message)))

    async def _send(
        self, message: LiveMessage, *, unless: Callable[[], bool] | None = None
    ) -> bool:
        """Send in order; ``unless`` is checked when it is this message's turn."""
        payload = msgspec.json.encode(message).decode()
        async with self._send_lock:
            if unless is not None and unless():
                return False
            try:
                await self._send_text(payload)
            except Exception as exc:
                raise Gone from exc
        return True

    async def _report(self, message: str, code: str) -> None:
        """A non-fatal problem: an ``Error`` message, and the session goes on."""
        await self._send(LiveError(error=InvalidRequestError(message, code=code).detail()))

    # -- configuration ---------------------------------------------------------------------

    async def _configure(self, receive: Callable[[], Awaitable[Frame]]) -> LiveConfig:
        try:
            async with asyncio.timeout(CONFIG_TIMEOUT_S):
                frame = await receive()
        except TimeoutError:
            message = f"No configuration message within {CONFIG_TIMEOUT_S:g} s."
            error = InvalidRequestError(message, code="config_timeout")
            raise Refused(error, POLICY_VIOLATION) from None
        if frame is None:
            raise Gone
        if isinstance(frame, bytes):
            message = (
                'The first message must be the JSON configuration, e.g. {"sample_rate": 16000}; '
                "binary audio frames come after it."
            )
            error = InvalidRequestError(message, code="config_required")
            raise Refused(error, UNSUPPORTED_DATA)
        try:
            fields = decode_json(frame)
        except msgspec.DecodeError as exc:
            message = f"The configuration message is not valid JSON: {exc}."
            error = InvalidRequestError(message, code="invalid_json")
            raise Refused(error, POLICY_VIOLATION) from None
        if not isinstance(fields, dict):
            message = 'The configuration message must be a JSON object: {"sample_rate": 16000}.'
            raise Refused(InvalidRequestError(message, code="invalid_config"), POLICY_VIOLATION)
        query = {key: self._query[key] for key in CONFIG_KEYS if key in self._query}
        try:
            config = msgspec.convert({**query, **fields}, LiveConfig, strict=False)
        except msgspec.ValidationError as exc:
            raise config_error(str(exc)) from None
        try:
            capabilities = await stt.prepare(self._runtime, config.model, language=config.language)
        except OpenAIError as exc:
            raise Refused(exc, close_code(exc)) from None
        self._words = capabilities.word_timestamps
        self.config = config
        return config

    # -- reading ---------------------------------------------------------------------------

    async def _read(self, receive: Callable[[], Awaitable[Frame]]) -> None:
        """Frames to the audio queue until ``done``; then keep reading only to see a leave."""
        while True:
            frame = await receive()
            if frame is None:
                raise Gone
            if self._done:
                continue  # audio (and anything else) after done is ignored
            if isinstance(frame, bytes):
                if frame:
                    await self._audio.put(frame)
                continue
            await self._text(frame)

    async def _text(self, frame: str) -> None:
        try:
            message = decode_json(frame)
        except msgspec.DecodeError as exc:
            await self._report(f"Not valid JSON: {exc}.", "invalid_json")
            return
        if isinstance(message, dict) and message.get("done") is True:
            self._done = True
            await self._audio.put(None)
            return
        if isinstance(message, dict) and "sample_rate" in message:
            text = "The session is already configured; its settings cannot change."
        else:
            text = 'Expected binary audio frames or {"done": true}.'
        await self._report(text, "unexpected_message")

    # -- audio and voice activity ----------------------------------------------------------

    async def _process(self, config: LiveConfig) -> None:
        """Batches of frames through the VAD, in order; after ``done``, the flush."""
        ingest = Ingest(config)
        while True:
            frames = [await self._audio.get()]
            while not self._audio.empty():
                frames.append(self._audio.get_nowait())
            last = frames[-1] is None
            data = b"".join(frame for frame in frames if frame is not None)
            step = await asyncio.to_thread(ingest, data, last=last)
            self._apply(step)
            if last:
                self._flush()
                await self._finals.put(None)
                return
            self._maybe_partial()

    def _apply(self, step: Step) -> None:
        self._buffer.append(step.samples)
        for event in step.events:
            if isinstance(event, SpeechStarted):
                self._open(event)
            else:
                end = event.audio_end_ms * SAMPLES_PER_MS
                self._cap(end)
                self._end_utterance(end, min(end + TAIL_MS * SAMPLES_PER_MS, self._buffer.end))
        self._position = step.position
        self._speech_end = step.speech_end
        self._cap(self._position)
        self._trim()

    def _open(self, event: SpeechStarted) -> None:
        if self._utterance is not None:
            return
        onset = event.onset_ms * SAMPLES_PER_MS
        begin = max(event.audio_start_ms * SAMPLES_PER_MS, self._last_end, self._buffer.start)
        self._utterance = _Utterance(
            begin=begin, onset=onset, next_partial=onset + self._interval, covered=onset
        )

    @property
    def _settings(self) -> LiveConfig:
        """The configuration; set from the first frame, before any audio is read."""
        config = self.config
        if config is None:
            msg = "live session used before its configuration arrived"
            raise RuntimeError(msg)
        return config

    @property
    def _interval(self) -> int:
        return self._settings.partial_interval_ms * SAMPLES_PER_MS

    def _cap(self, upto: int) -> None:
        """Finalize what passed ``max_utterance_ms``, cut at its quietest 100 ms."""
        limit = self._settings.max_utterance_ms * SAMPLES_PER_MS
        while (utterance := self._utterance) is not None and upto - utterance.begin > limit:
            region = self._buffer.slice(utterance.begin, utterance.begin + limit + 1)
            cuts = quiet_cuts(PcmAudio(region, VAD_RATE), limit / VAD_RATE)
            cut = utterance.begin + (cuts[0] if cuts else limit)
            self._end_utterance(cut, cut, adopt=False)
            self._utterance = _Utterance(
                begin=cut, onset=cut, next_partial=cut + self._interval, covered=cut
            )

    def _end_utterance(self, speech_end: int, audio_end: int, *, adopt: bool = True) -> None:
        """Queue the open utterance's final; reuse a partial that already covers its speech."""
        utterance = self._utterance
        if utterance is None:
            return
        self._utterance = None
        utterance.finalized = True
        self._last_end = max(self._last_end, speech_end)
        if speech_end <= utterance.onset:  # the rest of a cut utterance held no speech
            self._cancel_partial()
            return
        job = _Final(
            utterance=utterance,
            begin=utterance.begin,
            onset=utterance.onset,
            speech_end=speech_end,
            audio=self._buffer.slice(utterance.begin, audio_end),
            queued=time.monotonic(),
        )
        partial = self._partial
        if partial is not None and partial.utterance is utterance:
            if adopt and partial.covers >= speech_end:
                job.adopted = partial.task
                partial.adopted = True
                self._partial = None
            elif adopt:
                # Too short to be the final. Cancelling would not free the engine sooner
                # (its step in flight finishes anyway): it goes out as a partial if it is
                # done before the final, which queues for the engine behind it.
                self._partial = None
            else:
                self._cancel_partial()
        elif adopt and utterance.result is not None and utterance.result[0] >= speech_end:
            job.segments = utterance.result[1]
        log.debug(
            "final queued",
            audio_start=utterance.onset // SAMPLES_PER_MS,
            audio_end=speech_end // SAMPLES_PER_MS,
            reuses="running partial" if job.adopted else "partial" if job.segments else None,
        )
        self._pending_finals += 1
        self._finals.put_nowait(job)

    def _cancel_partial(self) -> None:
        partial, self._partial = self._partial, None
        if partial is not None and partial.task is not None:
            partial.task.cancel()

    def _flush(self) -> None:
        """After ``done``: the open utterance ends where the audio ends."""
        self._cap(self._buffer.end)
        self._end_utterance(self._speech_end, self._buffer.end)

    def _trim(self) -> None:
        """Keep the open utterance, or the prefix padding a new one may reach back into."""
        utterance = self._utterance
        if utterance is not None:
            self._buffer.trim(utterance.begin)
        else:
            padding = self._settings.prefix_padding_ms * SAMPLES_PER_MS + WINDOW
            self._buffer.trim(self._position - padding)

    # -- transcripts -----------------------------------------------------------------------

    async def _transcribe(self, audio: NDArray[np.float32]) -> list[Segment]:
        config = self._settings
        return await stt.transcribe(
            self._runtime,
            config.model,
            PcmAudio(audio, VAD_RATE),
            language=config.language,
            words=self._words,
        )

    async def _transcribe_final(self, audio: NDArray[np.float32]) -> list[Segment]:
        """A final is never dropped for a full engine queue: it retries for a while first."""
        deadline = time.monotonic() + FINAL_RETRY_S
        while True:
            try:
                return await self._transcribe(audio)
            except RateLimitError as exc:
                if time.monotonic() >= deadline:
                    raise
                wait = float(exc.headers.get("Retry-After", "1"))
                await asyncio.sleep(min(wait, 1.0, max(0.0, deadline - time.monotonic())))

    def _maybe_partial(self) -> None:
        """Start a partial when one is due and nothing stands in its way."""
        config = self.config
        utterance = self._utterance
        if (
            config is None
            or not config.partial_interval_ms
            or utterance is None
            or self._partial is not None
            or self._pending_finals
            or self._done
            or self._speech_end <= utterance.covered  # nothing said since the last one
        ):
            return
        position = self._buffer.end
        pausing = (
            config.silence_duration_ms > PAUSE_MS
            and position - self._speech_end >= PAUSE_MS * SAMPLES_PER_MS
        )
        cadence = position >= utterance.next_partial and time.monotonic() >= self._rest_until
        if not (cadence or pausing):
            return
        log.debug(
            "partial started",
            pause=not cadence,
            audio_start=utterance.onset // SAMPLES_PER_MS,
            audio_end=position // SAMPLES_PER_MS,
        )
        partial = _Partial(utterance, covers=self._speech_end)
        utterance.covered = self._speech_end
        utterance.next_partial = position + self._interval
        audio = self._buffer.slice(utterance.begin, position)
        partial.task = self._spawn(self._run_partial(partial, audio), "partial")
        self._partial = partial

    async def _run_partial(
        self, partial: _Partial, audio: NDArray[np.float32]
    ) -> list[Segment] | None:
        """Transcribe the utterance so far; send it unless its final went out first.

        After each, the cadence rests as long as it took, so partials hold the engine at most
        half the time: a final that arrives while one runs waits for it (engines finish their
        step in flight), which matters when a decoding costs more than the silence that ends
        an utterance (Whisper base on two cores).
        """
        started = time.monotonic()
        try:
            segments = await self._transcribe(audio)
        except OpenAIError as exc:  # busy engine: skip it, the final will say what is wrong
            log.info("partial transcript skipped", error=exc.message)
            return None
        except Exception:
            log.exception("partial transcript failed")
            return None
        finally:
            if self._partial is partial:
                self._partial = None
        if partial.adopted:
            return segments  # final work, not a partial's share of the engine
        now = time.monotonic()
        self._rest_until = now + (now - started)
        utterance = partial.utterance
        if not utterance.finalized:
            utterance.result = (partial.covers, segments)
        message = transcript_message(
            PartialTranscript, segments, utterance.begin, utterance.onset, partial.covers
        )
        if message.text:
            try:
                if await self._send(message, unless=lambda: utterance.final_sent):
                    self.partials_sent += 1
            except Gone:
                self._finish(None)
                return segments
        self._maybe_partial()
        return segments

    async def _finalize(self) -> None:
        """Send finals one by one, in utterance order; after the flush, end the session."""
        while (job := await self._finals.get()) is not None:
            segments = job.segments
            if segments is None and job.adopted is not None:
                segments = await job.adopted
            if segments is None:
                segments = await self._transcribe_final(job.audio)
            message = transcript_message(
                FinalTranscript, segments, job.begin, job.onset, job.speech_end
            )
            job.utterance.final_sent = True
            await self._send(message)
            log.debug(
                "final sent",
                audio_end=message.audio_end,
                seconds=round(time.monotonic() - job.queued, 3),
            )
            self.finals_sent += 1
            self._pending_finals -= 1
            self._maybe_partial()
        self._finish(Close(NORMAL))
