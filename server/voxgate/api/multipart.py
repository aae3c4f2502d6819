"""Read a ``multipart/form-data`` body into text fields and uploads; bad parts are 400s.

Litestar's own form parser answers 500 to a text part that is not UTF-8 (or names a charset
that does not exist), and reads a file part sent without a filename into memory as text. Here
every malformed part is a 400 naming its field, and the parts named in ``file_fields`` are
uploads whether or not the client gave them a filename (the audio is judged by its bytes).
"""

from __future__ import annotations

import codecs
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from litestar.datastructures import UploadFile
from litestar.utils.scope.state import ScopeState
from multipart import MultipartSegment, ParserError, ParserLimitReached, PushMultipartParser

from voxgate.errors import InvalidRequestError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from litestar import Request

FormFields = dict[str, list[Any]]  # each value a ``str`` or an ``UploadFile``


async def read_multipart(
    request: Request[Any, Any, Any], *, file_fields: Iterable[str], part_limit: int
) -> FormFields:
    """Every part of the body, in order, by name: text as ``str``, files as ``UploadFile``."""
    boundary = request.content_type[1].get("boundary")
    if not boundary:
        raise InvalidRequestError(
            "The multipart/form-data Content-Type has no `boundary`.", param=None
        )
    files = frozenset(file_fields)
    fields: FormFields = defaultdict(list)
    reader = _PartReader(files)
    try:
        with PushMultipartParser(
            boundary.encode("latin-1"), max_segment_count=part_limit
        ) as parser:
            async for chunk in request.stream():
                for event in parser.parse(chunk):
                    await reader.feed(event, fields)
                if parser.closed:
                    break
            if not parser.closed:
                for event in parser.parse(b""):  # end of input: raises if a part is cut short
                    await reader.feed(event, fields)
    except ParserLimitReached:
        await _close(fields, reader.upload)
        msg = f"The form has too many parts: at most {part_limit} fields and files are accepted."
        raise InvalidRequestError(msg) from None
    except ParserError as exc:
        await _close(fields, reader.upload)
        msg = f"The multipart/form-data body is malformed: {exc}."
        raise InvalidRequestError(msg) from None
    except BaseException:
        await _close(fields, reader.upload)
        raise
    # where Litestar keeps the form it parsed: it closes the uploads once the response is sent
    ScopeState.from_scope(request.scope).form = dict(fields)
    return dict(fields)


class _PartReader:
    """Collects one part at a time from the parser's events."""

    def __init__(self, files: frozenset[str]) -> None:
        self.files = files
        self.segment: MultipartSegment | None = None
        self.text = bytearray()
        self.upload: UploadFile | None = None

    async def feed(self, event: MultipartSegment | bytearray | None, fields: FormFields) -> None:
        if isinstance(event, MultipartSegment):
            self.segment = event
            if event.filename or event.name in self.files:
                self.upload = UploadFile(
                    content_type=event.content_type or "application/octet-stream",
                    filename=event.filename or "upload",
                    headers=dict(event.headerlist),
                )
        elif event:
            if self.upload is not None:
                await self.upload.write(bytes(event))
            else:
                self.text.extend(event)
        elif self.segment is not None:  # the end of the part
            if self.upload is not None:
                await self.upload.seek(0)
                fields[self.segment.name].append(self.upload)
                self.upload = None
            else:
                fields[self.segment.name].append(_decoded(self.segment, bytes(self.text)))
                self.text = bytearray()
            self.segment = None


def _decoded(segment: MultipartSegment, data: bytes) -> str:
    """A text part as ``str``: UTF-8 unless the part names another charset."""
    name = segment.name
    charset = segment.charset or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        msg = f"The form field `{name}` names an unknown charset `{charset[:40]}`."
        raise InvalidRequestError(msg, param=name) from None
    try:
        return data.decode(charset)
    except UnicodeDecodeError:
        msg = (
            f"The form field `{name}` is not {charset} text. Send text fields as UTF-8, and "
            "audio as a file part (`file`)."
        )
        raise InvalidRequestError(msg, param=name) from None


async def _close(fields: FormFields, pending: UploadFile | None) -> None:
    uploads = [value for values in fields.values() for value in values]
    for upload in [*uploads, pending]:
        if isinstance(upload, UploadFile):
            await upload.close()
