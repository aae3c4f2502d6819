"""``GET /v1/models`` and ``GET /v1/models/{model}`` (ids may contain ``/``)."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath

from voxgate.errors import ModelNotFoundError
from voxgate.runtime import Runtime
from voxgate.services.models import find_model, list_models
from voxgate.wire.models import Model, ModelList


@get("/v1/models", sync_to_thread=False)
def models_list(runtime: NamedDependency[Runtime]) -> ModelList:
    """Every configured instance name and alias."""
    return ModelList(data=list_models(runtime.config))


@get("/v1/models/{model_id:path}", sync_to_thread=False)
def models_retrieve(runtime: NamedDependency[Runtime], model_id: FromPath[str]) -> Model:
    """A listed id, or one a pattern serves; the SDK sends ``a/b`` as ``a%2Fb`` (decoded here)."""
    wanted = str(model_id).lstrip("/")
    model = find_model(runtime.config, wanted)
    if model is None:
        raise ModelNotFoundError(wanted, param=None)
    return model


@get("/v1/audio/models", sync_to_thread=False)
def audio_models(runtime: NamedDependency[Runtime]) -> dict[str, list[dict[str, str]]]:
    """The ids that speak, in the shape Open WebUI reads for its TTS model list.

    Not an OpenAI route: Open WebUI asks a non-OpenAI base URL for ``/audio/models``.
    """
    speaking = [
        model.id
        for model in list_models(runtime.config)
        if runtime.hooks.resolve_model(model.id, "tts", runtime.config) in runtime.pool.tts
    ]
    return {"models": [{"id": model_id} for model_id in speaking]}
