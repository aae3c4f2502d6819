"""``GET /v1/models`` and ``GET /v1/models/{model}`` (ids may contain ``/``)."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath

from voxgate.errors import ModelNotFoundError
from voxgate.runtime import Runtime
from voxgate.services.models import list_models
from voxgate.wire.models import Model, ModelList


@get("/v1/models", sync_to_thread=False)
def models_list(runtime: NamedDependency[Runtime]) -> ModelList:
    """Every configured instance name and alias."""
    return ModelList(data=list_models(runtime.config))


@get("/v1/models/{model_id:path}", sync_to_thread=False)
def models_retrieve(runtime: NamedDependency[Runtime], model_id: FromPath[str]) -> Model:
    """One model; the SDK sends ``a/b`` as ``a%2Fb``, which arrives here decoded."""
    wanted = str(model_id).lstrip("/")
    for model in list_models(runtime.config):
        if model.id == wanted:
            return model
    raise ModelNotFoundError(wanted, param=None)
