"""A Realtime session over WebRTC (``aiortc``): the peer's microphone in, spoken answers out.

The same ``RealtimeSession`` as the WebSocket path, with three differences, as OpenAI's:
the caller's Opus track (48 kHz) is decoded and fed to the session as PCM; answers are
played on the server's audio track instead of ``response.output_audio.delta`` events; and
the ``oai-events`` data channel carries the JSON events both ways, plus
``output_audio_buffer.started/.stopped/.cleared`` about the track.

ICE uses host candidates only (no STUN, no TURN): the server is reachable on its LAN
addresses; behind NAT a TURN server is needed (docs/self-hosting/realtime.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import secrets
import time
from typing import TYPE_CHECKING, Any

import av
import numpy as np
import structlog
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from voxgate.engines.audio import PcmAudio
from voxgate.errors import InvalidRequestError, OpenAIError
from voxgate.wire import realtime_events as events

if TYPE_CHECKING:
    from aiortc.rtcdatachannel import RTCDataChannel

    from voxgate.services.realtime.session import RealtimeSession

log = structlog.get_logger("voxgate.realtime")

RATE = 24_000  # the session's speech rate; the Opus encoder resamples to 48 kHz
FRAME_SAMPLES = RATE // 50  # 20 ms per frame, as WebRTC sends
FRAME_BYTES = 2 * FRAME_SAMPLES
FEED_MS = 100  # decoded input is fed to the session in 100 ms pieces (VAD's step)
CONNECT_TIMEOUT_S = 30.0  # a call whose peer never connects is closed after this
CHANNEL_BUFFER_LIMIT = 8 * 1024 * 1024  # unsent data channel bytes before the call is dropped
EVENTS_CHANNEL = "oai-events"


class SpeakerTrack(MediaStreamTrack):
    """The server's audio track: queued answer audio in real time, silence in between.

    It is the session's ``AudioSink``: responses write 24 kHz pcm16 into it; the track
    reports when a response's audio starts and stops playing, or is cleared.
    """

    kind = "audio"

    def __init__(self, notify: Any) -> None:
        super().__init__()
        self._notify = notify  # queues a server event on the data channel
        self._queue = bytearray()
        self._response: str | None = None  # whose audio is queued
        self._playing: str | None = None  # whose audio went out (started sent)
        self._ended = False
        self._start: float | None = None
        self._timestamp = 0

    # -- AudioSink ------------------------------------------------------------------------

    def write(self, response_id: str, pcm: bytes) -> None:
        """Queue a response's audio."""
        if self._response != response_id:
            self._response, self._ended = response_id, False
        self._queue += pcm

    def end(self, response_id: str, *, cancelled: bool) -> None:
        """The response ended: play out what is queued, or drop it when cancelled."""
        if self._response != response_id:
            return
        self._ended = True
        if cancelled:
            self.clear()

    def clear(self) -> None:
        """Drop the unplayed audio; say so if some was playing."""
        self._queue.clear()
        if self._playing is not None:
            self._notify(events.OutputAudioCleared(response_id=self._playing))
            self._playing = None

    # -- MediaStreamTrack -----------------------------------------------------------------

    async def recv(self) -> av.AudioFrame:
        """The next 20 ms frame, paced to real time."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._timestamp += FRAME_SAMPLES
            await asyncio.sleep(self._start + self._timestamp / RATE - time.monotonic())
        chunk = bytes(self._queue[:FRAME_BYTES])
        del self._queue[:FRAME_BYTES]
        if chunk and self._playing is None and self._response is not None:
            self._playing = self._response
            self._notify(events.OutputAudioStarted(response_id=self._playing))
        if not self._queue and self._ended and self._playing is not None:
            self._notify(events.OutputAudioStopped(response_id=self._playing))
            self._playing = None
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(chunk.ljust(FRAME_BYTES, b"\0"))
        frame.pts = self._timestamp
        frame.sample_rate = RATE
        frame.time_base = fractions.Fraction(1, RATE)
        return frame


class Call:
    """One WebRTC call: its peer connection, its session and the tasks moving media and events."""

    def __init__(self, session: RealtimeSession, on_closed: Any) -> None:
        self.id = "rtc_" + secrets.token_hex(12)
        self.session = session
        # No ICE servers: host candidates only, and nothing is contacted (aiortc's default
        # would ask a public STUN server).
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.speaker = SpeakerTrack(session.send)
        self.channel: RTCDataChannel | None = None
        self._channel_open = asyncio.Event()
        self._incoming: asyncio.Queue[str | bytes] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._on_closed = on_closed
        self._connected = asyncio.Event()
        session.audio_sink = self.speaker

    async def answer(self, offer_sdp: str) -> str:
        """Take the caller's offer; the SDP answer (its ICE candidates gathered)."""
        pc = self.pc
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_channel)
        pc.on("connectionstatechange", self._on_state)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:  # noqa: BLE001 - aiortc's parser raises many types on bad SDP
            raise InvalidRequestError(
                f"The SDP offer could not be used: {exc}.", param="sdp", code="invalid_offer"
            ) from None
        if not any(t.kind == "audio" for t in pc.getTransceivers()):
            raise InvalidRequestError(
                "The SDP offer has no audio section.", param="sdp", code="invalid_offer"
            )
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "audio":
                transceiver.direction = "sendrecv"
                transceiver.sender.replaceTrack(self.speaker)
                break
        await pc.setLocalDescription(await pc.createAnswer())
        self.session.start()
        self._spawn(self._send_events())
        self._spawn(self._handle_events())
        self._spawn(self._watch_connect())
        return pc.localDescription.sdp

    # -- peer events ----------------------------------------------------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(self._listen(track))

    def _on_channel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_CHANNEL or self.channel is not None:
            return
        self.channel = channel
        channel.on("message", self._incoming.put_nowait)
        if channel.readyState == "open":
            self._channel_open.set()
        channel.on("open", self._channel_open.set)

    async def _on_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected":
            self._connected.set()
        elif state in ("failed", "closed"):
            await self.close()

    # -- the tasks ------------------------------------------------------------------------

    async def _listen(self, track: MediaStreamTrack) -> None:
        """The caller's audio, decoded by aiortc, resampled and fed to the session."""
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        pending: list[np.ndarray] = []
        pending_samples = 0
        step = RATE * FEED_MS // 1000
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, av.AudioFrame):
                continue
            for out in resampler.resample(frame):
                samples = out.to_ndarray().reshape(-1)
                pending.append(samples)
                pending_samples += len(samples)
            if pending_samples >= step:
                pcm = np.concatenate(pending).astype("<i2").tobytes()
                pending, pending_samples = [], 0
                try:
                    await self.session.feed_audio(PcmAudio.from_pcm16(pcm, RATE))
                except OpenAIError as exc:
                    self.session.send_error(exc)

    async def _handle_events(self) -> None:
        """Client events from the data channel, one at a time, in order."""
        while True:
            await self.session.receive(await self._incoming.get())

    async def _send_events(self) -> None:
        """Server events to the data channel once it is open; a peer that stops reading ends."""
        await self._channel_open.wait()
        channel = self.channel
        if channel is None:  # pragma: no cover - the event is set only with a channel
            return
        while True:
            frame = await self.session.outbox.next()
            if frame is None or channel.bufferedAmount > CHANNEL_BUFFER_LIMIT:
                log.warning("webrtc peer does not read its events", call=self.id)
                await self.close()
                return
            if channel.readyState != "open":
                return
            channel.send(frame.decode())

    async def _watch_connect(self) -> None:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await self._connected.wait()
        except TimeoutError:
            log.info("webrtc call never connected; closed", call=self.id)
            await self.close()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the end --------------------------------------------------------------------------

    async def close(self) -> None:
        """Hang up: stop the tasks and the session, close the peer connection (idempotent)."""
        if self._closed:
            return
        self._closed = True
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.session.close()
        self.speaker.stop()
        with contextlib.suppress(Exception):
            await self.pc.close()
        self._on_closed(self)
        log.info("webrtc call closed", call=self.id, session=self.session.config.id)
