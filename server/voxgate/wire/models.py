"""``GET /v1/models`` and ``GET /v1/models/{model}`` (contract §5)."""

from __future__ import annotations

from typing import Literal

import msgspec


class Model(msgspec.Struct, frozen=True):
    """One model id as the SDK's ``Model`` reads it."""

    id: str
    created: int
    owned_by: str
    object: Literal["model"] = "model"


class ModelList(msgspec.Struct, frozen=True):
    """The list page; the SDK does not paginate it."""

    data: list[Model]
    object: Literal["list"] = "list"
