"""The WebRTC speaker track: answer audio in real-time frames, and what it tells the client."""

from __future__ import annotations

import numpy as np

from voxgate.services.realtime.webrtc import FRAME_BYTES, SpeakerTrack
from voxgate.wire import realtime_events as events


def track() -> tuple[SpeakerTrack, list[events.ServerEvent]]:
    sent: list[events.ServerEvent] = []
    return SpeakerTrack(sent.append), sent


def tone(frames: int) -> bytes:
    return (np.full(frames * FRAME_BYTES // 2, 8_000, dtype="<i2")).tobytes()


async def test_a_response_plays_then_stops_and_silence_follows():
    speaker, sent = track()
    speaker.write("resp_1", tone(2))
    speaker.end("resp_1", cancelled=False)
    frames = [await speaker.recv() for _ in range(3)]
    assert [type(e) for e in sent] == [events.OutputAudioStarted, events.OutputAudioStopped]
    assert all(e.response_id == "resp_1" for e in sent)  # type: ignore[attr-defined]
    assert np.abs(frames[0].to_ndarray()).max() == 8_000
    assert not frames[2].to_ndarray().any()  # nothing queued: silence
    assert frames[2].pts == 2 * frames[1].pts  # paced, 20 ms apart


async def test_a_cancelled_response_barge_in_clears_what_was_not_played():
    speaker, sent = track()
    speaker.write("resp_1", tone(50))
    await speaker.recv()
    speaker.end("resp_1", cancelled=True)  # what ResponseRun does when it is cancelled
    assert [type(e) for e in sent] == [events.OutputAudioStarted, events.OutputAudioCleared]
    assert not (await speaker.recv()).to_ndarray().any()
