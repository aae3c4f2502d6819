"""Multipart form fields as the OpenAI SDK and curl send them, turned into a plain dict.

The SDK sends arrays as repeated ``name[]`` parts and objects as ``name[key]`` parts
(contract §3.1); curl users also send bare ``name`` parts and JSON objects as text. After
:func:`normalize_form` every field is a string, a list of strings or a dict, ready for
``msgspec.convert(..., strict=False)``.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from voxgate.errors import InvalidRequestError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

_BRACKETED = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<key>[^\[\]]*)\]$")


def normalize_form(
    fields: Mapping[str, Any], *, list_fields: Iterable[str], object_fields: Iterable[str]
) -> dict[str, Any]:
    """Fold ``a[]`` into lists and ``a[k]`` into dicts; decode JSON given for object fields."""
    lists = set(list_fields)
    objects = set(object_fields)
    out: dict[str, Any] = {}
    for raw_key, value in fields.items():
        match = _BRACKETED.match(raw_key)
        if match is None:
            _merge(out, raw_key, value, as_list=raw_key in lists)
        elif match.group("key") == "":
            _merge(out, match.group("name"), value, as_list=True)
        else:
            name = match.group("name")
            nested = out.setdefault(name, {})
            if not isinstance(nested, dict):
                raise InvalidRequestError(f"`{name}` was sent both as a value and as an object.")
            nested[match.group("key")] = _single(raw_key, value)
    for name in objects & out.keys():
        out[name] = _maybe_json_object(name, out[name])
    return out


def _merge(out: dict[str, Any], name: str, value: Any, *, as_list: bool) -> None:
    values = value if isinstance(value, list) else [value]
    if as_list:
        existing = out.get(name, [])
        out[name] = [*existing, *values] if isinstance(existing, list) else [existing, *values]
    else:
        out[name] = _single(name, value)


def _single(name: str, value: Any) -> Any:
    if isinstance(value, list):
        raise InvalidRequestError(f"`{name}` was sent more than once.", param=name)
    return value


def _maybe_json_object(name: str, value: Any) -> Any:
    """``chunking_strategy={"type": "server_vad"}`` typed as text by curl users."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            msg = f"`{name}` is not valid JSON: {exc.msg}."
            raise InvalidRequestError(msg, param=name) from None
    return value


def parse_scalar(value: Any) -> Any:
    """An extra (engine) parameter's text as JSON when it is JSON (``"1"`` -> 1), else as is."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value
