"""A session's conversation items, kept in one internal shape and shown per protocol.

Content part types differ between GA (``output_audio``) and beta (``audio``), and the
``response.content_part.*`` events name parts ``audio``/``text`` in both, so items are
rendered to the wire Structs (``voxgate.wire.realtime_events``) only when an event is built.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Literal

from voxgate.wire import realtime_events as shapes

BETA_CONTENT = {"output_audio": "audio", "output_text": "text"}
TEXT_TYPES = frozenset({"input_text", "output_text", "text"})

ItemKind = Literal["message", "function_call", "function_call_output"]


def new_id(prefix: str) -> str:
    """OpenAI-style ids: ``item_…``, ``resp_…``, ``call_…``."""
    return f"{prefix}_{secrets.token_hex(10)}"


@dataclass
class Content:
    """One content part of a message (``input_audio``, ``input_text``, ``output_audio``, …)."""

    type: str
    text: str | None = None
    transcript: str | None = None
    audio_ms: float = 0.0  # how much audio the part carries (assistant audio: for truncate)

    def wire(self, *, beta: bool) -> shapes.Part:
        """As the protocol shows it in items (audio bytes are never echoed back)."""
        kind = BETA_CONTENT.get(self.type, self.type) if beta else self.type
        if self.type in TEXT_TYPES:
            return shapes.Part(type=kind, text=self.text or "")
        return shapes.Part(type=kind, transcript=self.transcript)

    def part(self) -> shapes.Part:
        """As ``response.content_part.*`` events show it: ``text`` or ``audio``, both protocols."""
        if self.type in TEXT_TYPES:
            return shapes.Part(type="text", text=self.text or "")
        return shapes.Part(type="audio", transcript=self.transcript or "")


@dataclass
class Item:
    """A conversation item: a message, a function call or a function call's output."""

    role: Literal["user", "assistant", "system"]
    content: list[Content] = field(default_factory=list)
    id: str = field(default_factory=lambda: new_id("item"))
    status: shapes.Status = "completed"
    kind: ItemKind = "message"
    call_id: str = ""
    name: str = ""
    arguments: str = ""
    output: str = ""

    def text(self) -> str:
        """What a message says, for the LLM: texts and transcripts joined."""
        parts = [c.text if c.text is not None else c.transcript for c in self.content]
        return " ".join(p for p in parts if p)

    def wire(self, *, beta: bool) -> shapes.Item:
        """The item object."""
        if self.kind == "function_call":
            return shapes.FunctionCallItem(
                id=self.id,
                status=self.status,
                call_id=self.call_id,
                name=self.name,
                arguments=self.arguments,
            )
        if self.kind == "function_call_output":
            return shapes.FunctionCallOutputItem(
                id=self.id, status=self.status, call_id=self.call_id, output=self.output
            )
        return shapes.MessageItem(
            id=self.id,
            status=self.status,
            role=self.role,
            content=[part.wire(beta=beta) for part in self.content],
        )


def function_call(call_id: str, name: str, arguments: str = "") -> Item:
    """A function call item of the assistant."""
    return Item(
        role="assistant", kind="function_call", call_id=call_id, name=name, arguments=arguments
    )


def function_output(call_id: str, output: str) -> Item:
    """The client's result for ``call_id``."""
    return Item(role="user", kind="function_call_output", call_id=call_id, output=output)
