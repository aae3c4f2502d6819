"""The ``[chat.<name>]`` options of kind ``openai``: where the upstream LLM is and how to reach it.

Unset values fall back to the environment variables speaches users already set
(``CHAT_COMPLETION_BASE_URL``, ``CHAT_COMPLETION_API_KEY``, ``CHAT_COMPLETION_MODEL``), so the
default configuration talks to an LLM with nothing but those variables.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from voxgate import ConfigBase

BASE_URL_ENV = "CHAT_COMPLETION_BASE_URL"
API_KEY_ENV = "CHAT_COMPLETION_API_KEY"
MODEL_ENV = "CHAT_COMPLETION_MODEL"


def _describe(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class OpenAIUpstreamConfig(ConfigBase):
    """Any OpenAI-compatible chat endpoint: Ollama, vLLM, llama.cpp, LM Studio, OpenAI."""

    base_url: Annotated[
        str | None,
        _describe(
            "The upstream's API root, the one its own clients use as `base_url` "
            "(e.g. `http://localhost:11434/v1` for Ollama). Unset: env CHAT_COMPLETION_BASE_URL."
        ),
    ] = None
    api_key_env: Annotated[
        str,
        _describe(
            "Environment variable holding the upstream's API key, sent as a Bearer token "
            "(unset variable: no Authorization header)."
        ),
    ] = API_KEY_ENV
    model: Annotated[
        str | None,
        _describe(
            "Model sent upstream in place of the request's own (clients written for OpenAI "
            "ask for `gpt-4o-audio-preview`). Unset: env CHAT_COMPLETION_MODEL, else the "
            "request's model is forwarded as it is."
        ),
    ] = None
    headers: Annotated[
        dict[str, str],
        _describe("Extra HTTP headers sent with every upstream request."),
    ] = msgspec.field(default_factory=dict)
    connect_timeout: Annotated[
        float, msgspec.Meta(gt=0, description="Seconds to open a connection to the upstream.")
    ] = 10.0
    timeout: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description=(
                "Seconds to wait for the upstream's answer (non-streaming) or for each streamed "
                "chunk; then 504."
            ),
        ),
    ] = 300.0
    retries: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            le=10,
            description=(
                "Retries of a connection that could not be opened. Requests that reached the "
                "upstream are never repeated (an LLM answer is not idempotent)."
            ),
        ),
    ] = 2
    max_connections: Annotated[
        int, msgspec.Meta(ge=1, description="Pooled connections kept to the upstream.")
    ] = 100
