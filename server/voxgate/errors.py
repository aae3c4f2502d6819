"""OpenAI-shaped errors: the exception hierarchy and the Litestar handlers that render it.

Every failure path answers the same envelope, because the official SDKs unwrap
``body["error"]`` and expose ``message``, ``type``, ``param`` and ``code`` from it.
Validation problems are 4xx, never 5xx: the SDK retries 5xx and would resend a 25 MB upload.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import msgspec
import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_404_NOT_FOUND,
    HTTP_405_METHOD_NOT_ALLOWED,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_502_BAD_GATEWAY,
    HTTP_503_SERVICE_UNAVAILABLE,
    HTTP_504_GATEWAY_TIMEOUT,
)

from voxgate.wire.errors import ErrorDetail, ErrorResponse

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from litestar.types import ExceptionHandlersMap

log = structlog.get_logger("voxgate.errors")

S = TypeVar("S", bound=msgspec.Struct)

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"
CLIENT_GONE = "client_disconnected"  # scope state: the client left before its body was read
CLIENT_CLOSED_REQUEST = 499  # nginx's status for it: no one reads it, logs and metrics do


class OpenAIError(Exception):
    """Base of every error voxgate answers; subclasses fix the HTTP status and ``type``."""

    status_code: int = HTTP_500_INTERNAL_SERVER_ERROR  # an instance may override it (upstream)
    error_type: str = SERVER_ERROR
    default_code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.headers: dict[str, str] = dict(headers or {})

    def detail(self) -> ErrorDetail:
        """The inner object of the envelope."""
        return ErrorDetail(
            message=self.message, type=self.error_type, param=self.param, code=self.code
        )


class InvalidRequestError(OpenAIError):
    """400: the request is malformed or names a value voxgate cannot serve."""

    status_code = HTTP_400_BAD_REQUEST
    error_type = INVALID_REQUEST


class AuthenticationError(OpenAIError):
    """401: API keys are configured and the request did not present a valid one."""

    status_code = HTTP_401_UNAUTHORIZED
    error_type = INVALID_REQUEST
    default_code = "invalid_api_key"


class NotFoundError(OpenAIError):
    """404: unknown route or resource."""

    status_code = HTTP_404_NOT_FOUND
    error_type = INVALID_REQUEST


class ModelNotFoundError(NotFoundError):
    """404 ``model_not_found`` with OpenAI's own wording."""

    default_code = "model_not_found"

    def __init__(self, model: str, *, param: str | None = "model") -> None:
        super().__init__(
            f"The model `{model}` does not exist or you do not have access to it.", param=param
        )


class PayloadTooLargeError(OpenAIError):
    """413: the body is over the upload limit (OpenAI's wording and ``server_error`` type)."""

    status_code = HTTP_413_REQUEST_ENTITY_TOO_LARGE

    def __init__(self, limit: int, received: int | None) -> None:
        read = f" ({received} bytes read)" if received is not None else ""
        super().__init__(f"Maximum content size limit ({limit}) exceeded{read}")


class RateLimitError(OpenAIError):
    """429: an engine's queue is full; ``Retry-After`` says when to come back."""

    status_code = HTTP_429_TOO_MANY_REQUESTS
    error_type = "rate_limit_exceeded"
    default_code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class ServiceUnavailableError(OpenAIError):
    """503: the server cannot serve this now (engine unavailable, queue wait timed out)."""

    status_code = HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_unavailable"


class EngineError(OpenAIError):
    """500: an engine failed; the details go to the log only."""


class BadGatewayError(OpenAIError):
    """502: an upstream service (the chat LLM) is unreachable or answered nonsense."""

    status_code = HTTP_502_BAD_GATEWAY
    default_code = "upstream_error"


class GatewayTimeoutError(OpenAIError):
    """504: an upstream service did not answer in time."""

    status_code = HTTP_504_GATEWAY_TIMEOUT
    default_code = "upstream_timeout"


class UpstreamError(OpenAIError):
    """An upstream's own error, passed through with its status and envelope fields."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        error_type: str | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code)
        self.status_code = status_code
        if error_type is not None:
            self.error_type = error_type


@contextmanager
def params_renamed(renames: Mapping[str, str]) -> Iterator[None]:
    """Errors raised inside name their ``param`` as the caller's request does.

    A shared check (``speech.plan``) says ``voice``; the chat endpoint that called it with
    ``audio.voice`` renames it, so the client learns which of its own fields is wrong.
    """
    try:
        yield
    except OpenAIError as exc:
        if exc.param is not None and exc.param in renames:
            exc.param = renames[exc.param]
        raise


def error_body(detail: ErrorDetail) -> bytes:
    """Encode the envelope; shared by HTTP responses, SSE events and raw ASGI replies."""
    return msgspec.json.encode(ErrorResponse(error=detail))


def error_response(error: OpenAIError) -> Response[bytes]:
    """A Litestar response carrying ``error``."""
    return Response(
        content=error_body(error.detail()),
        status_code=error.status_code,
        media_type=MediaType.JSON,
        headers=error.headers,
    )


_MSGSPEC_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def param_from_msgspec(message: str) -> tuple[str, str | None]:
    """Split msgspec's ``"... - at `$.voice`"`` into a clean message and an OpenAI ``param``."""
    match = _MSGSPEC_PATH.search(message)
    if match is None:
        return message, None
    path = match.group("path").lstrip(".")
    return message[: match.start()], path or None


def convert_request(raw: Mapping[str, Any], struct: type[S]) -> S:
    """``raw`` as the wire Struct ``struct``; a failure is a 400 whose ``param`` names the field.

    For request bodies that arrive as Python values rather than through Litestar's decoding:
    chat's JSON body, and the fields a plugin passes to ``RouteContext`` service calls.
    """
    try:
        return msgspec.convert(raw, struct)
    except msgspec.ValidationError as exc:
        message, param = param_from_msgspec(str(exc))
        raise InvalidRequestError(message + ".", param=param) from None


def _request_id(request: Request[Any, Any, Any]) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))


def _openai_error_handler(_: Request[Any, Any, Any], exc: OpenAIError) -> Response[bytes]:
    if exc.status_code >= HTTP_500_INTERNAL_SERVER_ERROR:
        log.error("request failed", error=exc.message, status=exc.status_code, exc_info=exc)
    return error_response(exc)


# the field a body's error is about when msgspec names it in the message, not the path
_MISSING_FIELD = re.compile(r"(?:missing required|contains unknown) field `(?P<field>[^`]+)`")
_BODY_KEYS = {"data", "body"}


def _validation_handler(_: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    """Litestar/msgspec validation failures as 400s whose ``param`` names the field."""
    key: str | None = None
    message = str(exc.detail)
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            key = str(item.get("key") or "") or None
            message = str(item.get("message") or message)
            break
    if key in _BODY_KEYS and message.strip("'") == key:  # Litestar's KeyError: no body at all
        return error_response(InvalidRequestError("The request body is empty: send a JSON object."))
    message, path = param_from_msgspec(message)
    missing = _MISSING_FIELD.search(message)
    field = missing.group("field") if missing else None
    if key in _BODY_KEYS:  # the whole body failed: the field is in msgspec's message
        key = None
    param = (f"{path}.{field}" if path else field) if field else path or key
    return error_response(InvalidRequestError(message, param=param))


_STATUS_ERRORS: dict[int, tuple[str, str | None]] = {
    HTTP_400_BAD_REQUEST: (INVALID_REQUEST, None),
    HTTP_401_UNAUTHORIZED: (INVALID_REQUEST, "invalid_api_key"),
    HTTP_404_NOT_FOUND: (INVALID_REQUEST, "not_found"),
    HTTP_405_METHOD_NOT_ALLOWED: (INVALID_REQUEST, "method_not_allowed"),
    HTTP_429_TOO_MANY_REQUESTS: ("rate_limit_exceeded", "rate_limit_exceeded"),
}


def _http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if status == HTTP_404_NOT_FOUND:
        message = f"Unknown request URL: {request.method} {request.url.path}."
    elif status == HTTP_405_METHOD_NOT_ALLOWED:
        message = f"Method {request.method} is not allowed on {request.url.path}."
    elif status == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        limit = request.route_handler.resolve_request_max_body_size() or 0
        return error_response(PayloadTooLargeError(limit, _announced_length(request)))
    elif status >= HTTP_500_INTERNAL_SERVER_ERROR:
        return _unhandled_handler(request, exc)
    else:
        message = str(exc.detail)
    error_type, code = _STATUS_ERRORS.get(status, (INVALID_REQUEST, None))
    detail = ErrorDetail(message=message, type=error_type, param=None, code=code)
    return Response(
        content=error_body(detail),
        status_code=status,
        media_type=MediaType.JSON,
        headers=dict(exc.headers or {}),
    )


def _announced_length(request: Request[Any, Any, Any]) -> int | None:
    try:
        return request.content_length
    except HTTPException:
        return None


def _unhandled_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    request_id = _request_id(request)
    if request.scope.get("state", {}).get(CLIENT_GONE):
        return _client_gone(request)
    log.error("unhandled exception", exc_info=exc)
    detail = ErrorDetail(
        message=(
            "The server had an error while processing your request. "
            f"Quote request id {request_id} when reporting it."
        ),
        type=SERVER_ERROR,
        param=None,
        code=None,
    )
    return Response(
        content=error_body(detail),
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        media_type=MediaType.JSON,
    )


def _client_gone(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The client closed the connection mid-upload: not a server error, and no one to answer.

    Litestar raises a 500 ``InternalServerException`` when the body stops with a disconnect;
    the access log and the metrics get 499 instead, and the log one info line.
    """
    log.info("client disconnected before its request was read", path=request.url.path)
    detail = ErrorDetail(
        message="The client closed the connection before the request was read.",
        type=INVALID_REQUEST,
        param=None,
        code="client_closed_request",
    )
    return Response(
        content=error_body(detail), status_code=CLIENT_CLOSED_REQUEST, media_type=MediaType.JSON
    )


def exception_handlers() -> ExceptionHandlersMap:
    """The app-level handlers; app level is the only place 404/405 from the router reach."""
    return {
        OpenAIError: _openai_error_handler,
        ValidationException: _validation_handler,
        HTTPException: _http_exception_handler,
        Exception: _unhandled_handler,
    }


def sse_error_event(error: OpenAIError) -> bytes:
    """A mid-stream SSE error as the SDK recognises it: ``data: {"error": {...}}``."""
    return b"data: " + error_body(error.detail()) + b"\n\n"
