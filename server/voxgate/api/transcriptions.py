"""``POST /v1/audio/transcriptions`` and ``POST /v1/audio/translations``: parse, run, render."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
import msgspec.inspect
from litestar import Request, Response, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency

from voxgate.api.disconnect import unless_disconnected
from voxgate.api.multipart import read_multipart
from voxgate.api.streaming import ClosingStream
from voxgate.errors import InvalidRequestError, param_from_msgspec
from voxgate.runtime import Runtime
from voxgate.services import transcription as stt
from voxgate.wire.forms import normalize_form, parse_scalar
from voxgate.wire.transcription import (
    AudioRequest,
    TranscriptionRequest,
    TranslationRequest,
    convert_form,
)

# What Litestar says (as a 400) when a form has more parts than ``multipart_form_part_limit``
# (a body over the size limit is a 413 with the same words)

SttRequest = TypeVar("SttRequest", TranscriptionRequest, TranslationRequest)

_LIST_FIELDS = (
    "timestamp_granularities",
    "include",
    "known_speaker_names",
    "known_speaker_references",
)
_OBJECT_FIELDS = ("chunking_strategy",)
# Sent by the SDK for other models (or endpoints); accepted and ignored where not typed.
_IGNORED_FIELDS = frozenset(
    {"known_speaker_names", "known_speaker_references", "keywords", "languages", "user"}
)


@post("/v1/audio/transcriptions", status_code=200)
async def transcriptions(
    request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]
) -> Response[bytes] | ClosingStream:
    """Audio to text in its own language."""
    return await _handle(request, runtime, TranscriptionRequest)


@post("/v1/audio/translations", status_code=200)
async def translations(
    request: Request[Any, Any, Any], runtime: NamedDependency[Runtime]
) -> Response[bytes] | ClosingStream:
    """Audio to English text."""
    return await _handle(request, runtime, TranslationRequest)


async def _handle(
    request: Request[Any, Any, Any], runtime: Runtime, request_type: type[SttRequest]
) -> Response[bytes] | ClosingStream:
    upload, parsed, extra = await _read_form(request, request_type)
    diarizer = runtime.diarizer(parsed.model) if request_type is TranscriptionRequest else None
    job = stt.plan(parsed, extra, diarizes=diarizer is not None)
    instance = runtime.stt_engine(job.model)
    diarized = await stt.open_diarization(diarizer, job, runtime.transcoder)
    data = await upload.read()
    await upload.close()
    audio = await stt.open_upload(
        data, parsed, runtime.transcoder, instance.engine_class.sample_rate, runtime.telemetry
    )
    del data  # the probed stream keeps its own reference until it is closed
    stream = await stt.open_segments(instance, job, audio, runtime.decoded_audio, diarized)
    if job.stream:
        return ClosingStream(
            stt.sse_events(job, stream, lambda: audio.duration, diarized),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    segments = await unless_disconnected(request, stt.collect(stream))
    body, media_type = stt.render(job, segments, audio.duration, diarized)
    return Response(body, media_type=media_type)


async def _read_form(
    request: Request[Any, Any, Any], request_type: type[SttRequest]
) -> tuple[UploadFile, SttRequest, dict[str, Any]]:
    """The file part, the typed fields and the leftover (engine-specific) fields."""
    if request.content_type[0] != "multipart/form-data":
        raise InvalidRequestError(
            "Send the request as multipart/form-data with a `file` part, as the OpenAI "
            f"SDK does (got `{request.content_type[0] or 'no content type'}`).",
            param="file",
        )
    form = await read_multipart(
        request, file_fields=["file"], part_limit=request.app.multipart_form_part_limit
    )
    fields = normalize_form(
        {key: values if len(values) > 1 else values[0] for key, values in form.items()},
        list_fields=_LIST_FIELDS,
        object_fields=_OBJECT_FIELDS,
    )
    upload = fields.pop("file", None)
    if not isinstance(upload, UploadFile):
        raise InvalidRequestError(
            "The `file` part is missing: attach the audio as a file.", param="file"
        )
    if "model" not in fields:
        raise InvalidRequestError("The `model` field is missing.", param="model")
    known = set(request_type.__struct_fields__)
    typed = {key: value for key, value in fields.items() if key in known}
    extra = {
        key: parse_scalar(value)
        for key, value in fields.items()
        if key not in known and key not in _IGNORED_FIELDS
    }
    try:
        parsed = convert_form(typed, request_type)
    except msgspec.ValidationError as exc:
        message, param = param_from_msgspec(str(exc))
        field = _top_level(param)
        allowed = _allowed_values(request_type, field)
        if allowed:
            message = f"{message} for `{field}`: expected one of {', '.join(allowed)}"
        raise InvalidRequestError(message + ".", param=field) from None
    return upload, parsed, extra


def _allowed_values(request_type: type[AudioRequest], field: str | None) -> list[str]:
    """The choices of a Literal field (or list of Literals), for a helpful message."""
    info = msgspec.inspect.type_info(request_type)
    if not isinstance(info, msgspec.inspect.StructType):
        return []
    for candidate in info.fields:
        if candidate.encode_name != field:
            continue
        kind = candidate.type
        if isinstance(kind, msgspec.inspect.ListType):
            kind = kind.item_type
        if isinstance(kind, msgspec.inspect.UnionType):
            kind = next((t for t in kind.types if isinstance(t, msgspec.inspect.LiteralType)), kind)
        if isinstance(kind, msgspec.inspect.LiteralType):
            return [str(value) for value in kind.values]
    return []


def _top_level(param: str | None) -> str | None:
    """``timestamp_granularities[0]`` -> ``timestamp_granularities``, as OpenAI names it."""
    if param is None:
        return None
    return param.split("[", 1)[0].split(".", 1)[0]
