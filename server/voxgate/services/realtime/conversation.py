"""A session's conversation: its items in order, their pending transcriptions, and the LLM's view.

Chat Completions needs every tool call answered by a ``tool`` message with its id and every
``tool`` message preceded by its call, so ``messages`` sends the upstream only complete
pairs; a call the client never answered (a cancelled turn, say) is left out of what the
LLM reads rather than failing every later response.
"""

from __future__ import annotations

import asyncio
from typing import Any

from voxgate.errors import InvalidRequestError
from voxgate.services.realtime.events import Content, Item, function_call, function_output

MAX_ITEMS = 1000
MAX_TEXT = 100_000  # characters of one text part, tool arguments or tool output


class Conversation:
    """Items in conversation order; at most ``limit`` (the oldest go first)."""

    def __init__(self, limit: int = MAX_ITEMS) -> None:
        self.items: list[Item] = []
        self.transcripts: dict[str, asyncio.Task[str | None]] = {}
        self._limit = limit
        self._calls: dict[str, None] = {}  # call ids of this session's responses, oldest first

    def find(self, item_id: str) -> Item:
        """The item, or OpenAI's ``item_not_found`` error."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise InvalidRequestError(
            f"Item with item_id not found: {item_id}", param="item_id", code="item_not_found"
        )

    def last_id(self) -> str | None:
        """The id of the newest item."""
        return self.items[-1].id if self.items else None

    def previous_id(self, item: Item) -> str | None:
        """The id of the item before ``item``."""
        index = self.items.index(item)
        return self.items[index - 1].id if index > 0 else None

    def add(self, item: Item, after: str | None = None) -> None:
        """Append, or insert after ``after`` (an item id, or ``root`` for the start)."""
        if after is None:
            self.items.append(item)
        elif after == "root":
            self.items.insert(0, item)
        else:
            self.items.insert(self.items.index(self.find(after)) + 1, item)
        if len(self.items) > self._limit:
            removed = self.items.pop(0)
            self.transcripts.pop(removed.id, None)

    def delete(self, item_id: str) -> None:
        """Remove an item; its transcription, if still running, stops."""
        self.items.remove(self.find(item_id))
        pending = self.transcripts.pop(item_id, None)
        if pending is not None and not pending.done():
            pending.cancel()  # closes the engine's generator: the worker stops between steps

    def remember_call(self, call_id: str) -> None:
        """A call the model made (out-of-band responses' calls are not items, yet answerable)."""
        self._calls[call_id] = None
        if len(self._calls) > self._limit:
            del self._calls[next(iter(self._calls))]

    def has_call(self, call_id: str) -> bool:
        """Whether a function call with this id was made or created in this session."""
        return call_id in self._calls or any(
            i.kind == "function_call" and i.call_id == call_id for i in self.items
        )

    async def transcribed(self) -> None:
        """Wait for every pending transcription: the LLM must read every user turn."""
        pending = [task for task in self.transcripts.values() if not task.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


def messages(items: list[Item]) -> list[dict[str, Any]]:
    """Items as Chat Completions messages: texts, and tool calls paired with their outputs."""
    answered = {i.call_id for i in items if i.kind == "function_call_output"}
    called = {i.call_id for i in items if i.kind == "function_call"}
    out: list[dict[str, Any]] = []
    for item in items:
        if item.kind == "function_call":
            if item.call_id not in answered:
                continue
            call = {
                "id": item.call_id,
                "type": "function",
                "function": {"name": item.name, "arguments": item.arguments or "{}"},
            }
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif item.kind == "function_call_output":
            if item.call_id in called:
                out.append({"role": "tool", "tool_call_id": item.call_id, "content": item.output})
        else:
            text = item.text()
            if text:
                out.append({"role": item.role, "content": text})
    return out


def item_from_wire(raw: dict[str, Any], param: str = "item") -> Item:
    """A client's item (``conversation.item.create``, ``response.create``'s ``input``), checked.

    Audio content is transcribed by the caller; its bytes are not kept here.
    """
    kind = raw.get("type", "message")
    if kind == "function_call":
        item = function_call(
            _text(raw.get("call_id"), f"{param}.call_id", required=True),
            _text(raw.get("name"), f"{param}.name", required=True),
            _text(raw.get("arguments") or "", f"{param}.arguments"),
        )
    elif kind == "function_call_output":
        item = function_output(
            _text(raw.get("call_id"), f"{param}.call_id", required=True),
            _text(raw.get("output") or "", f"{param}.output"),
        )
    elif kind == "message":
        item = _message(raw, param)
    else:
        raise InvalidRequestError(
            "Items are of type `message`, `function_call` or `function_call_output`.",
            param=f"{param}.type",
        )
    if raw.get("id") is not None:
        item.id = _text(raw["id"], f"{param}.id", required=True)[:64]
    return item


def _message(raw: dict[str, Any], param: str) -> Item:
    role = raw.get("role")
    if role not in ("user", "assistant", "system"):
        raise InvalidRequestError(
            "A message's role is `user`, `assistant` or `system`.", param=f"{param}.role"
        )
    content = raw.get("content") or []
    if not isinstance(content, list):
        raise InvalidRequestError("`content` is a list of parts.", param=f"{param}.content")
    parts: list[Content] = []
    for index, part in enumerate(content):
        where = f"{param}.content[{index}]"
        if not isinstance(part, dict):
            raise InvalidRequestError("Content parts are objects.", param=where)
        kind = str(part.get("type") or "input_text")
        if kind in ("input_text", "text", "output_text"):
            parts.append(Content(type=kind, text=_text(part.get("text") or "", f"{where}.text")))
        elif kind in ("input_audio", "audio", "output_audio"):
            transcript = part.get("transcript")
            if transcript is not None:
                transcript = _text(transcript, f"{where}.transcript")
            parts.append(Content(type=kind, transcript=transcript))
        else:
            raise InvalidRequestError(
                f"Content type `{kind}` is not supported.", param=f"{where}.type"
            )
    return Item(role=role, content=parts)


def _text(value: Any, param: str, *, required: bool = False) -> str:
    if not isinstance(value, str) or (required and not value):
        need = "a non-empty string" if required else "a string"
        raise InvalidRequestError(f"`{param}` must be {need}.", param=param)
    if len(value) > MAX_TEXT:
        raise InvalidRequestError(
            f"`{param}` is longer than {MAX_TEXT} characters.",
            param=param,
            code="string_above_max_length",
        )
    return value
