"""Server events of the Realtime API, named for the client's protocol (GA or beta).

The two protocols carry the same information under different names
(``response.output_audio.delta`` vs ``response.audio.delta``); a session builds every event
with its GA name and ``Events`` renames it for beta clients. Items are kept in one internal
shape and rendered per protocol, since content part types differ too.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from voxgate.errors import OpenAIError

BETA_NAMES = {
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "conversation.item.added": "conversation.item.created",
}
GA_ONLY = frozenset({"conversation.item.done"})
BETA_CONTENT = {"output_audio": "audio", "output_text": "text"}


def new_id(prefix: str) -> str:
    """OpenAI-style ids: ``item_…``, ``resp_…``, ``event_…``."""
    return f"{prefix}_{secrets.token_hex(10)}"


@dataclass
class Content:
    """One content part of an item (``input_audio``, ``input_text``, ``output_audio``, …)."""

    type: str
    text: str | None = None
    transcript: str | None = None
    audio_ms: float = 0.0  # how much audio the part carries (assistant audio: for truncate)

    def wire(self, *, beta: bool) -> dict[str, Any]:
        """As the protocol shows it (audio bytes are never echoed back)."""
        kind = BETA_CONTENT.get(self.type, self.type) if beta else self.type
        out: dict[str, Any] = {"type": kind}
        if self.type in ("input_text", "output_text", "text"):
            out["text"] = self.text or ""
        else:
            out["transcript"] = self.transcript
        return out


@dataclass
class Item:
    """A conversation item: a message from the user, the assistant or the system."""

    role: Literal["user", "assistant", "system"]
    content: list[Content]
    id: str = field(default_factory=lambda: new_id("item"))
    status: str = "completed"

    def text(self) -> str:
        """What the item says, for the LLM: texts and transcripts joined."""
        parts = [c.text if c.text is not None else c.transcript for c in self.content]
        return " ".join(p for p in parts if p)

    def wire(self, *, beta: bool) -> dict[str, Any]:
        """The item object."""
        return {
            "id": self.id,
            "object": "realtime.item",
            "type": "message",
            "status": self.status,
            "role": self.role,
            "content": [part.wire(beta=beta) for part in self.content],
        }


class Events:
    """Builds server events for one connection: ids, protocol names, error events."""

    def __init__(self, *, beta: bool) -> None:
        self.beta = beta
        self._counter = itertools.count(1)
        self._prefix = secrets.token_hex(4)

    def event(self, name: str, **fields: Any) -> dict[str, Any] | None:
        """``{"type", "event_id", **fields}``; None for events the protocol does not have."""
        if self.beta:
            if name in GA_ONLY:
                return None
            name = BETA_NAMES.get(name, name)
        return self._build(name, fields)

    def _build(self, name: str, fields: dict[str, Any]) -> dict[str, Any]:
        return {"type": name, "event_id": f"event_{self._prefix}{next(self._counter)}", **fields}

    def error(self, error: OpenAIError, *, client_event_id: str | None = None) -> dict[str, Any]:
        """An ``error`` event; the socket stays open."""
        detail = {
            "type": error.error_type,
            "code": error.code,
            "message": error.message,
            "param": error.param,
            "event_id": client_event_id,
        }
        return self._build("error", {"error": detail})  # the same in both protocols
