"""Every server event of a Realtime session, GA and beta, validates against the SDK's own models.

Frameworks (the Agents SDK, pipecat) parse events with ``openai``'s pydantic unions and drop
or fail on what does not match, so each event of a full conversation turn (server VAD, input
transcription, a spoken answer, a tool call), of a text answer and of a transcription
session is validated with ``TypeAdapter(RealtimeServerEvent)``, strictly, per protocol.
"""

from __future__ import annotations

import base64
import json
import time
import typing
from typing import Any

import pytest
from clips import speech_24k
from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent
from openai.types.realtime import RealtimeServerEvent as GaServerEvent
from pydantic import BaseModel, TypeAdapter, ValidationError
from websockets.sync.client import connect

GA = TypeAdapter(GaServerEvent)
BETA = TypeAdapter(BetaServerEvent)
SPEECH = speech_24k()
CHUNK = 2 * 2_400
BETA_HEADERS = {"OpenAI-Beta": "realtime=v1"}


def _send(socket: Any, event: dict[str, Any]) -> None:
    socket.send(json.dumps(event))


def _until(socket: Any, last: str, seen: list[dict[str, Any]], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = json.loads(socket.recv(timeout=timeout))
        seen.append(event)
        if event["type"] == last:
            return
    pytest.fail(f"no {last} in {[e['type'] for e in seen]}")


def _append_speech(socket: Any) -> None:
    for start in range(0, len(SPEECH), CHUNK):
        audio = base64.b64encode(SPEECH[start : start + CHUNK]).decode()
        _send(socket, {"type": "input_audio_buffer.append", "audio": audio})


def _models(union: Any) -> dict[str, type[BaseModel]]:
    """The SDK's event model for each ``type``, to report precisely what does not match."""
    members = typing.get_args(typing.get_args(union)[0])
    return {typing.get_args(m.model_fields["type"].annotation)[0]: m for m in members}


GA_MODELS = _models(GaServerEvent)
BETA_MODELS = _models(BetaServerEvent)


def _invalid(beta: bool, events: list[dict[str, Any]]) -> list[str]:
    """What the SDK's union rejects, with the event model's own errors."""
    adapter, models = (BETA, BETA_MODELS) if beta else (GA, GA_MODELS)
    problems = []
    for event in events:
        if beta and event["type"] == "transcription_session.created":
            # The spec's first event; the SDK's beta union lacks it: the same shape as .updated.
            event = {**event, "type": "transcription_session.updated"}  # noqa: PLW2901
        try:
            adapter.validate_python(event)
        except ValidationError:
            model = models.get(event["type"])
            if model is None:
                problems.append(f"{event['type']}: not an event of this protocol")
                continue
            try:
                model.model_validate(event)
            except ValidationError as exc:
                errors = [(e["loc"], e["msg"]) for e in exc.errors()]
                problems.append(f"{event['type']}: {errors}")
            else:
                problems.append(f"{event['type']}: rejected by the union only")
    return problems


def _conversation(address: str, *, beta: bool) -> list[dict[str, Any]]:
    """A spoken turn answered aloud, a text answer, a retrieve, a truncate, a delete."""
    seen: list[dict[str, Any]] = []
    headers = BETA_HEADERS if beta else None
    with connect(
        f"ws://{address}/v1/realtime?model=gpt-realtime", additional_headers=headers
    ) as socket:
        _until(socket, "session.created", seen)
        session: dict[str, Any] = (
            {
                "voice": "tone",
                "input_audio_transcription": {"model": "whisper-1"},
                "turn_detection": {"type": "server_vad"},
            }
            if beta
            else {
                "type": "realtime",
                "audio": {
                    "output": {"voice": "tone"},
                    "input": {
                        "transcription": {"model": "whisper-1"},
                        "turn_detection": {"type": "server_vad"},
                    },
                },
            }
        )
        _send(socket, {"type": "session.update", "session": session})
        _until(socket, "session.updated", seen)
        _append_speech(socket)
        _until(socket, "response.done", seen)
        answer = seen[-1]["response"]["output"][0]["id"]
        _send(socket, {"type": "conversation.item.retrieve", "item_id": answer})
        _until(socket, "conversation.item.retrieved", seen)
        _send(
            socket,
            {
                "type": "conversation.item.truncate",
                "item_id": answer,
                "content_index": 0,
                "audio_end_ms": 100,
            },
        )
        _until(socket, "conversation.item.truncated", seen)
        modalities = {"modalities": ["text"]} if beta else {"output_modalities": ["text"]}
        _send(socket, {"type": "response.create", "response": modalities})
        _until(socket, "response.done", seen)
        _send(socket, {"type": "conversation.item.delete", "item_id": answer})
        _until(socket, "conversation.item.deleted", seen)
        _send(socket, {"type": "input_audio_buffer.clear"})
        _until(socket, "input_audio_buffer.cleared", seen)
        _send(socket, {"type": "response.cancel"})
        _until(socket, "error", seen)
    return seen


def _transcription(address: str, *, beta: bool) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    headers = BETA_HEADERS if beta else None
    with connect(
        f"ws://{address}/v1/realtime?intent=transcription", additional_headers=headers
    ) as socket:
        created = "transcription_session.created" if beta else "session.created"
        _until(socket, created, seen)
        if beta:
            update = {
                "type": "transcription_session.update",
                "session": {
                    "input_audio_transcription": {"model": "whisper-1"},
                    "turn_detection": {"type": "server_vad"},
                },
            }
            updated = "transcription_session.updated"
        else:
            update = {
                "type": "session.update",
                "session": {
                    "type": "transcription",
                    "audio": {
                        "input": {
                            "transcription": {"model": "whisper-1"},
                            "turn_detection": {"type": "server_vad"},
                        }
                    },
                },
            }
            updated = "session.updated"
        _send(socket, update)
        _until(socket, updated, seen)
        _append_speech(socket)
        _until(socket, "conversation.item.input_audio_transcription.completed", seen)
    return seen


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
def test_conversation_events_validate_against_the_sdk(conversation_server, beta):
    events = _conversation(conversation_server, beta=beta)
    types = {event["type"] for event in events}
    assert {"response.output_item.added", "response.content_part.added", "error"} <= types
    problems = _invalid(beta, events)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
def test_transcription_events_validate_against_the_sdk(conversation_server, beta):
    events = _transcription(conversation_server, beta=beta)
    types = {event["type"] for event in events}
    assert "conversation.item.input_audio_transcription.delta" in types or beta
    problems = _invalid(beta, events)
    assert problems == [], "\n".join(problems)
