"""Chat proxy kind ``openai``: any OpenAI-compatible chat completions endpoint, over httpx.

Importing this module is cheap; connections open in the app's lifespan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voxgate import hookimpl
from voxgate_openai_upstream.config import OpenAIUpstreamConfig
from voxgate_openai_upstream.proxy import OpenAIUpstream

if TYPE_CHECKING:
    from collections.abc import Callable

    from voxgate import ChatProxy

__all__ = ["OpenAIUpstream", "OpenAIUpstreamConfig", "register_chat_proxies"]


@hookimpl
def register_chat_proxies(register: Callable[[type[ChatProxy]], None]) -> None:
    """Make the ``openai`` kind available to ``[chat.<name>]`` tables."""
    register(OpenAIUpstream)
