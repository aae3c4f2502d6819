"""Named engine instances: one worker executor each, a concurrency limit, a bounded queue.

A request first takes a slot (waiting in the queue if all are busy; 429 with ``Retry-After``
when the queue is full, 503 when it waited ``queue_timeout``), then gets the loaded engine.
Loading happens under a lock, so no request ever sees a half-loaded engine; an idle reaper
unloads engines after ``idle_ttl`` seconds without use. Admission, loads and runs are reported
to the app's ``Telemetry`` here, where they happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import structlog

from voxgate.engines.base import ComponentContext, Diarizer, EngineBase, SttEngine, TtsEngine
from voxgate.engines.runner import iterate_in_worker
from voxgate.errors import EngineError, OpenAIError, RateLimitError, ServiceUnavailableError
from voxgate.telemetry import Telemetry

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Iterator
    from concurrent.futures import Future

    from voxgate.config import InstanceConfig
    from voxgate.telemetry import EngineRun

log = structlog.get_logger("voxgate.pool")

E = TypeVar("E", bound=EngineBase)
T = TypeVar("T")
R = TypeVar("R")

LoadState = Literal["unloaded", "loading", "loaded", "failed"]
_REFUSED = "voxgate: the engine queue is closed"


class EngineInstance(Generic[E]):
    """One configured instance of an engine kind, with its own worker threads and queue."""

    def __init__(
        self,
        config: InstanceConfig,
        engine_class: type[E],
        context: ComponentContext,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.settings = config.settings
        self.engine_class = engine_class
        self._context = context
        self.telemetry = telemetry or Telemetry()
        self.direction: Literal["in", "out"] = "out" if config.task == "tts" else "in"
        self.executor = ThreadPoolExecutor(
            max_workers=self.settings.concurrency, thread_name_prefix=f"voxgate-{self.name}"
        )
        self._engine: E | None = None
        self._load_lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._waiters: set[asyncio.Task[Any]] = set()
        self._refusal: Callable[[], OpenAIError] | None = None
        self.active = 0
        self.waiting = 0
        self.state: LoadState = "unloaded"
        self.loaded_once = False
        self.load_error: str | None = None
        self.load_seconds: float | None = None  # the last successful load's
        self.last_used = time.monotonic()
        self._avg_seconds = 1.0

    # -- loading ----------------------------------------------------------------------------

    async def ensure_loaded(self) -> E:
        """The loaded engine, loading it in the worker first if needed."""
        async with self._load_lock:
            if self._engine is not None:
                return self._engine
            self.state = "loading"
            started = time.perf_counter()
            loop = asyncio.get_running_loop()
            try:
                with self.telemetry.loading(self.name):
                    engine = await loop.run_in_executor(self.executor, self._create_and_load)
            except OpenAIError as exc:  # the engine's own words for the client (a 503 saying why)
                self.state = "failed"
                self.load_error = f"{type(exc).__name__}: {exc}"
                log.warning("engine load refused", instance=self.name, error=str(exc))
                raise
            except Exception as exc:
                self.state = "failed"
                self.load_error = f"{type(exc).__name__}: {exc}"
                log.exception("engine load failed", instance=self.name, kind=self.config.kind)
                msg = f"Engine `{self.name}` failed to load; the server log has the details."
                raise EngineError(msg) from exc
            self._engine = engine
            self.state = "loaded"
            self.loaded_once = True
            self.load_error = None
            self.load_seconds = time.perf_counter() - started
            self.last_used = time.monotonic()
            log.info(
                "engine loaded",
                instance=self.name,
                kind=self.config.kind,
                seconds=round(self.load_seconds, 3),
            )
            return engine

    def _create_and_load(self) -> E:
        engine = self.engine_class(self.config.options, self._context)
        engine.load()
        return engine

    async def unload(self, *, only_if_idle_for: float | None = None) -> bool:
        """Unload now (or only when idle long enough); ``True`` if it unloaded."""
        async with self._load_lock:
            engine = self._engine
            if engine is None or self.active:
                return False
            if (
                only_if_idle_for is not None
                and time.monotonic() - self.last_used < only_if_idle_for
            ):
                return False
            self._engine = None
            self.state = "unloaded"
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(self.executor, engine.unload)
            except Exception:
                log.exception("engine unload failed", instance=self.name)
            log.info("engine unloaded", instance=self.name, idle_ttl=only_if_idle_for)
            return True

    # -- admission --------------------------------------------------------------------------

    async def acquire(self) -> None:
        """Take a slot, waiting in the bounded queue; 429 when full, 503 after queue_timeout.

        Admission counts the requests already in (running or waiting), not the semaphore's
        state: a burst arrives before any of its requests has taken a slot, so ``locked()``
        would still be false for all of them.
        """
        if self._refusal is not None:
            raise self._refusal()
        admitted = self.active + self.waiting
        if admitted >= self.settings.concurrency + self.settings.max_queue:
            self.telemetry.rejected(self.name, "queue_full")
            raise RateLimitError(
                f"Engine `{self.name}` is busy: {self.active} running, {self.waiting} queued. "
                "Retry after the delay in the Retry-After header.",
                retry_after=self.retry_after(),
            )
        self.waiting += 1
        task = asyncio.current_task()
        if task is not None:
            self._waiters.add(task)
        try:
            with self.telemetry.queue_wait(self.name):
                async with asyncio.timeout(self.settings.queue_timeout):
                    await self._slots.acquire()
        except TimeoutError:
            self.telemetry.rejected(self.name, "queue_timeout")
            msg = f"Engine `{self.name}` stayed busy for {self.settings.queue_timeout:g} s."
            raise ServiceUnavailableError(
                msg, headers={"Retry-After": str(self.retry_after())}
            ) from None
        except asyncio.CancelledError as exc:
            refusal = self._refusal_for(exc)
            if refusal is None or task is None:
                raise
            task.uncancel()
            raise refusal() from None
        finally:
            self.waiting -= 1
            if task is not None:
                self._waiters.discard(task)
        self.active += 1

    def _refusal_for(self, cancelled: asyncio.CancelledError) -> Callable[[], OpenAIError] | None:
        """The refusal when ``refuse_waiting`` cancelled the wait, else ``None``."""
        return self._refusal if cancelled.args == (_REFUSED,) else None

    def refuse_waiting(self, error: Callable[[], OpenAIError]) -> None:
        """From now on refuse every request with ``error()``, those in the queue at once.

        For the shutdown drain: requests already running keep their slots.
        """
        self._refusal = error
        for task in list(self._waiters):
            task.cancel(_REFUSED)

    def release(self, started: float) -> None:
        """Give the slot back and fold this request's duration into the Retry-After estimate."""
        self.active -= 1
        self._slots.release()
        now = time.monotonic()
        self.last_used = now
        self._avg_seconds = 0.8 * self._avg_seconds + 0.2 * (now - started)

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: queue length times the average request time."""
        rounds = (self.waiting + 1) / self.settings.concurrency
        return max(1, math.ceil(self._avg_seconds * rounds))

    # -- running ----------------------------------------------------------------------------

    async def run(self, call: Callable[[E], R]) -> R:
        """Run one blocking ``call(engine)`` in the worker under a slot."""
        await self.acquire()
        started = time.monotonic()
        run: EngineRun | None = None
        try:
            engine = await self.ensure_loaded()
            run = self.telemetry.engine_run(self.name, self.direction)
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(
                self.executor, call if run is None else run.timed(call), engine
            )
            if run is not None:
                run.complete()
            return result
        finally:
            self.release(started)
            if run is not None:
                run.finish()

    async def open_stream(
        self,
        call: Callable[[E], Iterator[T]],
        *,
        audio_in: float = 0.0,
        audio_out: Callable[[T], float] | None = None,
    ) -> EngineStream[T]:
        """Take a slot and load *now*, so 429/5xx happen before a response starts.

        ``call(engine)`` runs in the worker too, never on the event loop: whatever it does
        before handing back its generator (checks, or an engine's eager work) cannot stall
        the server. Returns an async iterator over that generator, computed in the worker;
        the slot is released when the generator finishes or is closed (client gone,
        cancellation).

        For the metrics: ``audio_in`` is the seconds of audio the run takes in (an STT
        upload), ``audio_out`` gives the seconds of audio in each item (TTS pieces).
        """
        requested = time.perf_counter()
        await self.acquire()
        started = time.monotonic()
        run: EngineRun | None = None

        def done() -> None:
            self.release(started)
            if run is not None:
                run.finish()

        try:
            engine = await self.ensure_loaded()
            run = self.telemetry.engine_run(self.name, self.direction, audio=audio_in)
            pending = self.executor.submit(call if run is None else run.timed(call), engine)
        except BaseException:
            done()
            raise
        try:
            iterator = await asyncio.wrap_future(pending)
        except asyncio.CancelledError:
            _release_when_settled(pending, asyncio.get_running_loop(), done)
            raise
        except BaseException:
            done()
            raise
        if run is not None:
            iterator = run.steps(iterator)
        return EngineStream(
            self.executor, iterator, done, run=run, measure=audio_out, requested=requested
        )

    def shutdown(self) -> None:
        """Stop the worker threads; queued work is cancelled."""
        self.executor.shutdown(wait=False, cancel_futures=True)


def _release_when_settled(
    pending: Future[Iterator[T]], loop: asyncio.AbstractEventLoop, on_done: Callable[[], None]
) -> None:
    """After a cancelled ``open_stream``: free the slot only once ``call`` is done in the worker.

    What ``call`` made is closed first (an unstarted generator runs none of its body), so an
    instance never runs more calls than it has slots.
    """

    def settled(future: Future[Iterator[T]]) -> None:
        if not future.cancelled() and future.exception() is None:
            closer = getattr(future.result(), "close", None)
            if closer is not None:
                closer()
        with contextlib.suppress(RuntimeError):  # loop already closed at interpreter exit
            loop.call_soon_threadsafe(on_done)

    pending.add_done_callback(settled)


class EngineStream(Generic[T]):
    """The items of an engine generator, computed in the instance's worker.

    Iteration starts lazily; ``aclose()`` (or garbage collection) of a stream that never
    started still closes the engine generator and gives the slot back.
    """

    def __init__(
        self,
        executor: ThreadPoolExecutor,
        iterator: Iterator[T],
        on_done: Callable[[], None],
        *,
        run: EngineRun | None = None,
        measure: Callable[[T], float] | None = None,
        requested: float | None = None,
    ) -> None:
        self._executor = executor
        self._iterator = iterator
        self._on_done = on_done
        self._run = run  # what the telemetry observes of this run (None: nothing)
        self._measure = measure if run is not None else None
        # when the stream was asked for, before any queue (``time.perf_counter()``)
        self.requested = time.perf_counter() if requested is None else requested
        self._loop = asyncio.get_running_loop()
        self._inner: AsyncGenerator[T, None] | None = None
        self._closed = False
        self._on_close: list[Callable[[], None]] = []

    def __aiter__(self) -> EngineStream[T]:
        return self

    async def __anext__(self) -> T:
        if self._inner is None:
            if self._closed:
                raise StopAsyncIteration
            self._inner = iterate_in_worker(self._executor, self._iterator, self._on_done)
        try:
            item = await self._inner.__anext__()
        except StopAsyncIteration:
            if self._run is not None:
                self._run.complete()
            raise
        if self._measure is not None and self._run is not None:
            self._run.add_audio(self._measure(item))
        return item

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` as soon as the stream is closed, before the step in flight ends.

        For a generator that can stop inside a long step: a ``threading.Event`` it checks
        between the engine's own chunks, say.
        """
        self._on_close.append(callback)

    async def aclose(self) -> None:
        """Stop: closes the engine generator (after any step in flight) and frees the slot."""
        if self._closed:
            return
        self._closed = True
        for callback in self._on_close:
            callback()
        if self._inner is None:
            self._abandon()
        else:
            await self._inner.aclose()

    def _abandon(self) -> None:
        closer = getattr(self._iterator, "close", None)
        if closer is not None:
            closer()  # never started: closing runs none of its body
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._on_done)

    def __del__(self) -> None:
        if self._inner is None and not self._closed:
            self._closed = True
            self._abandon()


class EnginePool:
    """Every STT, TTS and diarizer instance by name, with preload and the idle reaper."""

    def __init__(
        self,
        stt: dict[str, EngineInstance[SttEngine]],
        tts: dict[str, EngineInstance[TtsEngine]],
        diarize: dict[str, EngineInstance[Diarizer]] | None = None,
    ) -> None:
        self.stt = stt
        self.tts = tts
        self.diarize = diarize or {}
        self._tasks: list[asyncio.Task[Any]] = []

    @property
    def instances(self) -> list[EngineInstance[Any]]:
        """All instances, STT first."""
        return [*self.stt.values(), *self.tts.values(), *self.diarize.values()]

    def start(self) -> None:
        """Start preloading and the idle reaper; call from the app's lifespan."""
        for instance in self.instances:
            if instance.settings.preload:
                self._tasks.append(asyncio.create_task(self._preload(instance)))
        ttls = [i.settings.idle_ttl for i in self.instances if i.settings.idle_ttl]
        if ttls:
            interval = min(30.0, max(0.05, min(ttls) / 4))
            self._tasks.append(asyncio.create_task(self._reap(interval)))

    async def _preload(self, instance: EngineInstance[Any]) -> None:
        with contextlib.suppress(EngineError):  # recorded on the instance; /ready reports it
            await instance.ensure_loaded()

    async def _reap(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            for instance in self.instances:
                ttl = instance.settings.idle_ttl
                if ttl and instance.state == "loaded" and not instance.active:
                    await instance.unload(only_if_idle_for=ttl)

    def refuse_waiting(self, error: Callable[[], OpenAIError]) -> None:
        """Every instance refuses new and queued requests with ``error()`` (shutdown drain)."""
        for instance in self.instances:
            instance.refuse_waiting(error)

    def readiness(self) -> list[str]:
        """Why the server is not ready: preload instances not (yet) loaded. Empty when ready."""
        reasons = []
        for instance in self.instances:
            if not instance.settings.preload or instance.loaded_once:
                continue
            if instance.load_error:  # the error itself is in the log, not on a public route
                reasons.append(f"{instance.name}: failed to load; see the server log")
            else:
                reasons.append(f"{instance.name}: {instance.state}")
        return reasons

    async def close(self) -> None:
        """Cancel background tasks, unload every engine, stop the workers."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for instance in self.instances:
            await instance.unload()
            instance.shutdown()
