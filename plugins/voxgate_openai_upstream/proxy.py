"""The chat proxy kind ``openai``: forward chat bodies to an OpenAI-compatible endpoint.

One pooled ``httpx.AsyncClient`` per instance. Only connections that could not be opened are
retried (httpx's transport retries); a request that reached the upstream is never repeated.
Upstream 4xx answers pass through with their status and envelope; an unreachable upstream is
a 502 and a slow one a 504, so clients can tell the server's faults from the LLM's.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import httpx
import structlog

from voxgate import (
    BadGatewayError,
    ChatProxy,
    ComponentContext,
    GatewayTimeoutError,
    OpenAIError,
    ServiceUnavailableError,
    UpstreamError,
    redact_url,
    redact_urls,
)
from voxgate_openai_upstream.config import BASE_URL_ENV, MODEL_ENV, OpenAIUpstreamConfig

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

log = structlog.get_logger("voxgate.chat.upstream")

NOT_CONFIGURED = (
    "No upstream LLM is configured for chat completions: set CHAT_COMPLETION_BASE_URL "
    "(and CHAT_COMPLETION_API_KEY if it needs one), or `base_url` in the [chat.{name}] table "
    "of the config file. See docs/self-hosting/chat.md."
)
CLIENT_ERROR_MIN, SERVER_ERROR_MIN = 400, 500
NOT_FOUND = 404
AUTH_STATUSES = frozenset({401, 403})


class OpenAIUpstream(ChatProxy[OpenAIUpstreamConfig]):
    """``POST {base_url}/chat/completions``, plain or streamed."""

    kind: ClassVar[str] = "openai"

    def __init__(
        self,
        config: OpenAIUpstreamConfig,
        context: ComponentContext,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(config, context)
        env = os.environ if environ is None else environ
        self.base_url = config.base_url or env.get(BASE_URL_ENV) or None
        self.model = config.model or env.get(MODEL_ENV) or None
        self._api_key = env.get(config.api_key_env) or None
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Open the connection pool (nothing to open without an upstream)."""
        if self.base_url is None or self._client is not None:
            return
        headers = dict(self.config.headers)
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        limits = httpx.Limits(
            max_connections=self.config.max_connections,
            max_keepalive_connections=min(self.config.max_connections, 20),
        )
        self._client = httpx.AsyncClient(
            base_url=self.base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(self.config.timeout, connect=self.config.connect_timeout),
            transport=httpx.AsyncHTTPTransport(retries=self.config.retries, limits=limits),
        )
        log.info(
            "chat upstream", instance=self.context.instance, base_url=redact_url(self.base_url)
        )

    async def aclose(self) -> None:
        """Close pooled connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def check_ready(self) -> None:
        """503 with instructions when no upstream URL is known."""
        if self.base_url is None:
            raise ServiceUnavailableError(
                NOT_CONFIGURED.format(name=self.context.instance),
                code="upstream_not_configured",
                headers={"x-should-retry": "false"},
            )

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """One chat completion."""
        client = self._ready_client()
        try:
            response = await client.post("chat/completions", json=self._outgoing(body, False))
        except httpx.TimeoutException as exc:
            raise _timeout(exc) from None
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from None
        if response.status_code >= CLIENT_ERROR_MIN:
            raise _upstream_error(response.status_code, response.content, self.base_url)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise BadGatewayError("The upstream LLM answered something that is not JSON.")
        return data

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The parsed ``chat.completion.chunk`` objects, until ``[DONE]``.

        An answer that is not an event stream, or a stream that ends with neither ``[DONE]``
        nor a ``finish_reason``, is a 502: the client must not take a cut reply as whole.
        """
        client = self._ready_client()
        try:
            async with client.stream(
                "POST", "chat/completions", json=self._outgoing(body, True)
            ) as response:
                if response.status_code >= CLIENT_ERROR_MIN:
                    raise _upstream_error(
                        response.status_code, await response.aread(), self.base_url
                    )
                _require_event_stream(response)
                finished = False
                async for data in _sse_data(response):
                    if data == "[DONE]":
                        return
                    chunk = _chunk(data)
                    finished = finished or _has_finish_reason(chunk)
                    yield chunk
                if not finished:  # the connection ended early: the reply may be cut anywhere
                    raise BadGatewayError(
                        "The upstream LLM's stream ended before the reply was finished "
                        "(no `finish_reason` and no [DONE])."
                    )
        except httpx.TimeoutException as exc:
            raise _timeout(exc) from None
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from None

    def _ready_client(self) -> httpx.AsyncClient:
        self.check_ready()
        if self._client is None:
            msg = "The chat proxy was used before the server started it."
            raise ServiceUnavailableError(msg)
        return self._client

    def _outgoing(self, body: dict[str, Any], stream: bool) -> dict[str, Any]:
        """The body as sent: the configured model in place of the client's, ``stream`` set."""
        out = {**body, "stream": stream}
        if not stream:
            out.pop("stream_options", None)
        if self.model is not None:
            out["model"] = self.model
        return out


async def _sse_data(response: httpx.Response) -> AsyncIterator[str]:
    """The ``data`` of each server-sent event (multi-line data joined, comments skipped)."""
    lines: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
        elif line.startswith("data:"):
            lines.append(line[5:].removeprefix(" "))
    if lines:
        yield "\n".join(lines)


def _require_event_stream(response: httpx.Response) -> None:
    """A 200 that is not an event stream (a JSON completion, an HTML page) is a 502."""
    content_type = response.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "text/event-stream":
        raise BadGatewayError(
            "The upstream LLM answered a streamed request with "
            f"`{content_type or 'no content type'}`, not an event stream."
        )


def _has_finish_reason(chunk: dict[str, Any]) -> bool:
    choices = chunk.get("choices")
    return isinstance(choices, list) and any(
        isinstance(choice, dict) and choice.get("finish_reason") for choice in choices
    )


def _chunk(data: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except ValueError:
        raise BadGatewayError("The upstream LLM streamed an event that is not JSON.") from None
    if not isinstance(chunk, dict):
        raise BadGatewayError("The upstream LLM streamed an event that is not an object.")
    if "error" in chunk:
        raise _from_envelope(CLIENT_ERROR_MIN, chunk, mid_stream=True)
    return chunk


def _upstream_error(status: int, content: bytes, base_url: str | None) -> OpenAIError:
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = content.decode("utf-8", "replace").strip()[:500] or f"HTTP {status}"
        body = {"error": {"message": text}}
    return _from_envelope(status, body, hint=_path_hint(status, base_url))


def _path_hint(status: int, base_url: str | None) -> str | None:
    """For a 404 from a base URL with no path: most servers want ``/v1`` (Ollama, vLLM).

    speaches' docs set ``CHAT_COMPLETION_BASE_URL=http://localhost:11434`` for Ollama, which
    sends ``/chat/completions`` where Ollama serves ``/v1/chat/completions``.
    """
    if status != NOT_FOUND or not base_url or urlsplit(base_url).path.strip("/"):
        return None
    shown = redact_url(base_url.rstrip("/"))
    return (
        f"voxgate sent POST {shown}/chat/completions; OpenAI-compatible servers usually "
        f"serve it under /v1: set the base URL (CHAT_COMPLETION_BASE_URL or `base_url`) to "
        f"{shown}/v1"
    )


def _from_envelope(
    status: int, body: dict[str, Any], *, mid_stream: bool = False, hint: str | None = None
) -> OpenAIError:
    """OpenAI's ``{"error": {...}}``, FastAPI's ``{"detail": ...}`` or a bare string."""
    error = body.get("error", body.get("detail"))
    fields: dict[str, Any] = error if isinstance(error, dict) else {"message": error}
    message = str(fields.get("message") or f"HTTP {status}")
    log.warning("chat upstream error", status=status, message=message[:200])
    if hint is not None:
        message = f"{message} ({hint})"
    if status >= SERVER_ERROR_MIN or mid_stream:
        return BadGatewayError(f"The upstream LLM failed: {message}")
    if status in AUTH_STATUSES:
        message = (
            f"The upstream LLM refused voxgate's credentials (its key is the one named by "
            f"`api_key_env`, CHAT_COMPLETION_API_KEY by default): {message}"
        )
    return UpstreamError(
        status,
        message,
        error_type=_text(fields.get("type")),
        param=_text(fields.get("param")),
        code=_text(fields.get("code")),
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _timeout(exc: httpx.TimeoutException) -> GatewayTimeoutError:
    kind = "connecting to" if isinstance(exc, httpx.ConnectTimeout) else "waiting for"
    return GatewayTimeoutError(f"Timed out {kind} the upstream LLM.")


def _unreachable(base_url: str | None, exc: httpx.TransportError) -> BadGatewayError:
    """A 502 that names the upstream as the operator wrote it, less its credentials."""
    shown = redact_url(base_url or "")
    error = redact_urls(str(exc))
    log.warning("chat upstream unreachable", base_url=shown, error=error)
    return BadGatewayError(f"The upstream LLM at {shown} cannot be reached: {error}")
