"""Realtime function tools, checked, and as Chat Completions sends them to the upstream LLM.

Realtime tools are flat (``{type: "function", name, description, parameters}``); Chat
Completions nests them (``{type: "function", function: {…}}``), and ``tool_choice``
differs the same way. The LLM sees the tools; voxgate only relays its calls.
"""

from __future__ import annotations

import re
from typing import Any

from voxgate.errors import InvalidRequestError

MAX_TOOLS = 128
NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
CHOICES = ("auto", "none", "required")


def check_tools(value: Any, param: str) -> list[dict[str, Any]]:
    """A ``tools`` list as sent in ``session.update`` or ``response.create``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRequestError("`tools` must be a list.", param=param)
    if len(value) > MAX_TOOLS:
        raise InvalidRequestError(f"At most {MAX_TOOLS} tools.", param=param)
    return [_check_tool(tool, f"{param}[{index}]") for index, tool in enumerate(value)]


def _check_tool(tool: Any, where: str) -> dict[str, Any]:
    if not isinstance(tool, dict) or tool.get("type", "function") != "function":
        raise InvalidRequestError(
            "voxgate relays function tools (`type: function`) only.", param=f"{where}.type"
        )
    name = tool.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidRequestError(
            "A tool's `name` is 1 to 64 letters, digits, `_` or `-`.", param=f"{where}.name"
        )
    parameters = tool.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidRequestError(
            "`parameters` is a JSON Schema object.", param=f"{where}.parameters"
        )
    description = tool.get("description")
    if description is not None and not isinstance(description, str):
        raise InvalidRequestError("`description` is a string.", param=f"{where}.description")
    checked: dict[str, Any] = {"type": "function", "name": name}
    if description is not None:
        checked["description"] = description
    if parameters is not None:
        checked["parameters"] = parameters
    return checked


def check_choice(value: Any, param: str) -> str | dict[str, Any]:
    """``auto``, ``none``, ``required`` or ``{type: "function", name}``."""
    if value is None:
        return "auto"
    if value in CHOICES:
        return str(value)
    if isinstance(value, dict) and value.get("type") == "function":
        name = value.get("name") or (value.get("function") or {}).get("name")
        if isinstance(name, str) and name:
            return {"type": "function", "name": name}
    raise InvalidRequestError(
        '`tool_choice` is `auto`, `none`, `required` or `{"type": "function", "name": …}`.',
        param=param,
    )


def chat_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """As Chat Completions takes them."""
    return [
        {
            "type": "function",
            "function": {
                key: tool[key] for key in ("name", "description", "parameters") if key in tool
            },
        }
        for tool in tools
    ]


def chat_choice(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    """``tool_choice`` as Chat Completions takes it."""
    if isinstance(choice, dict):
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice
