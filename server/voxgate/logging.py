"""structlog setup: console lines on a terminal, JSON otherwise, the request id in every line.

Third-party libraries (uvicorn, faster-whisper, httpx) log through stdlib ``logging``; their
records are rendered by the same processors. A redaction processor keeps API keys, audio
payloads and base64 out of every line, whoever logs them.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TYPE_CHECKING, Any, Literal

import structlog
from structlog.tracebacks import ExceptionDictTransformer

from voxgate.redaction import redact_urls

if TYPE_CHECKING:
    from structlog.typing import EventDict, Processor, WrappedLogger

LogFormat = Literal["auto", "json", "console"]

_SENSITIVE_KEY = re.compile(
    r"(authorization|api[_-]?key|secret|token|password|audio|b64|base64|payload|body|data)$",
    re.IGNORECASE,
)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=_-]{120,}")
_BEARER = re.compile(r"(?i)bearer\s+\S+")
_QUERY_SECRET = re.compile(r"(?i)\b(api[_-]?key|access_token|token|key)=[^&\s\"']+")
_KEY_PROTOCOL = re.compile(r"openai-insecure-api-key\.[^,\s\"']+")
MAX_STRING = 512


def _scrub(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        value = redact_urls(value)
        value = _BEARER.sub("Bearer [redacted]", value)
        value = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}=[redacted]", value)
        value = _KEY_PROTOCOL.sub("openai-insecure-api-key.[redacted]", value)
        value = _BASE64_RUN.sub(lambda m: f"<{len(m.group())} chars redacted>", value)
        if len(value) > MAX_STRING:
            return value[:MAX_STRING] + f"…(+{len(value) - MAX_STRING} chars)"
    return value


def redact(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Drop secrets and payloads: sensitive keys, bearer tokens, URL credentials, base64, bytes."""
    for key, value in list(event_dict.items()):
        if key in {"event", "exception", "exc_info"}:
            if key == "event":
                event_dict[key] = _scrub(value)
            continue
        if _SENSITIVE_KEY.search(key) and value not in (None, "", False):
            event_dict[key] = "[redacted]"
        else:
            event_dict[key] = _scrub(value)
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]


def configure_logging(
    log_format: LogFormat = "auto", level: str = "info", *, cache: bool = True
) -> None:
    """Route structlog and stdlib logging through one renderer at ``level``.

    ``cache=False`` keeps loggers re-configurable (tests capture logs).
    """
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: Processor
    if use_json:
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    shared = _shared_processors()
    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if use_json:
        # show_locals=False: locals of a failing frame can hold API keys and audio buffers.
        final.append(
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
        )
    final.append(renderer)
    formatter = structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=final)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # voxgate writes its own access line
    # faster-whisper logs several INFO lines per request; voxgate's access line says enough
    logging.getLogger("faster_whisper").setLevel(max(root.level, logging.WARNING))
    # Coqui's synthesizer logs every input sentence at INFO: request text stays out of logs
    logging.getLogger("TTS").setLevel(max(root.level, logging.WARNING))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=cache,
    )
