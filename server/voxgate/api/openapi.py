"""The OpenAPI document, true to what the API answers: the error envelope, forms, audio bodies.

Litestar derives the document from handler signatures, which says too little here: errors
are ``{"error": {...}}`` on every route (not Litestar's ``ValidationException`` shape), the
transcription endpoints read a multipart form by hand, and speech answers audio, not JSON.
:class:`DocumentRenderPlugin` serves ``openapi.json`` with those parts written in, so the
document clients and ``tests/api/test_openapi_fuzz.py`` read is the API's own.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import msgspec
from litestar.openapi.plugins import JsonRenderPlugin

from voxgate.wire.chat import ChatRequest
from voxgate.wire.errors import ErrorResponse
from voxgate.wire.speech import CONTENT_TYPES, SpeechRequest
from voxgate.wire.transcription import TranscriptionRequest, TranslationRequest

if TYPE_CHECKING:
    from litestar import Request

REF = "#/components/schemas/{name}"
_ERROR = {"$ref": REF.format(name="ErrorResponse")}
_BINARY = {"type": "string", "format": "binary"}
_TEXT = {"type": "string"}
_SSE = {"text/event-stream": {"schema": {"description": "`data:` events, each a JSON object."}}}
_FORMS: dict[str, type[msgspec.Struct]] = {
    "/v1/audio/transcriptions": TranscriptionRequest,
    "/v1/audio/translations": TranslationRequest,
}
# JSON bodies whose schema msgspec writes better than Litestar (which drops the constraints
# inside a union: ``voice`` as a non-empty string or an object), or that a handler reads as
# a plain dict (chat, which forwards unknown fields to the upstream)
_JSON_BODIES: dict[str, type[msgspec.Struct]] = {
    "/v1/audio/speech": SpeechRequest,
    "/v1/chat/completions": ChatRequest,
}
# what each route answers besides JSON (the response formats a request can ask for)
_BODIES: dict[str, dict[str, Any]] = {
    "/v1/audio/speech": {
        **{media: {"schema": _BINARY} for media in CONTENT_TYPES.values()},
        **_SSE,
    },
    "/v1/audio/transcriptions": {
        "application/json": {"schema": {"type": "object"}},
        "text/plain": {"schema": _TEXT},
        "text/vtt": {"schema": _TEXT},
        **_SSE,
    },
    "/v1/audio/translations": {
        "application/json": {"schema": {"type": "object"}},
        "text/plain": {"schema": _TEXT},
        "text/vtt": {"schema": _TEXT},
    },
    "/v1/chat/completions": {"application/json": {"schema": {"type": "object"}}, **_SSE},
}


class DocumentRenderPlugin(JsonRenderPlugin):
    """``openapi.json`` with voxgate's corrections (computed once, then cached)."""

    def __init__(self) -> None:
        super().__init__()
        self._rendered: bytes | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:  # noqa: ARG002
        """The corrected document as JSON."""
        if self._rendered is None:
            self._rendered = msgspec.json.encode(corrected(openapi_schema))
        return self._rendered


def corrected(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of Litestar's ``document`` with errors, forms and audio bodies as they are."""
    out = copy.deepcopy(document)
    schemas = out.setdefault("components", {}).setdefault("schemas", {})
    _add_schemas(schemas, [ErrorResponse, *_FORMS.values(), *_JSON_BODIES.values()])
    for path, item in out.get("paths", {}).items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "delete", "patch"}:
                _correct(path, operation, schemas)
    return out


def _add_schemas(schemas: dict[str, Any], types: list[type[msgspec.Struct]]) -> None:
    _, components = msgspec.json.schema_components(types, ref_template=REF)
    schemas.update(components)


def _correct(path: str, operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for status in [key for key in responses if key[:1] in {"4", "5"}]:
        del responses[status]  # Litestar's own error shape, which voxgate never sends
    if path in _BODIES:
        ok = responses.setdefault("200", {"description": "OK"})
        ok["content"] = _BODIES[path]
    if path in _FORMS:
        operation["requestBody"] = _form_body(_FORMS[path].__name__, schemas)
    if path in _JSON_BODIES:
        schema = {"$ref": REF.format(name=_JSON_BODIES[path].__name__)}
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    responses["4XX"] = {
        "description": "The request cannot be served as sent (the message says why).",
        "content": {"application/json": {"schema": _ERROR}},
    }
    responses["5XX"] = {
        "description": "A server, engine or upstream failure, or no capacity now (`Retry-After`).",
        "content": {"application/json": {"schema": _ERROR}},
    }


def _form_body(name: str, schemas: dict[str, Any]) -> dict[str, Any]:
    """The multipart form: the request Struct's fields as text parts, and the ``file`` part.

    A form has no ``null``: an unset field is a part not sent. Other fields are passed to the
    engine as its own parameters, so any extra text part is accepted.
    """
    fields = schemas[name]
    properties = {key: _no_null(value) for key, value in fields.get("properties", {}).items()}
    schema = {
        "type": "object",
        "properties": {"file": _BINARY, **properties},
        "required": ["file", *fields.get("required", [])],
        "additionalProperties": _TEXT,
    }
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


def _no_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without its ``null`` alternative (and without a ``null`` default)."""
    out = {key: value for key, value in schema.items() if not (key == "default" and value is None)}
    for key in ("anyOf", "oneOf"):
        if key in out:
            kept = [option for option in out[key] if option.get("type") != "null"]
            out[key] = kept
            if len(kept) == 1:
                del out[key]
                out.update(kept[0])
    return out
