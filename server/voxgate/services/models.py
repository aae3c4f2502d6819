"""The model ids voxgate serves, in OpenAI's ``Model`` shape."""

from __future__ import annotations

from typing import TYPE_CHECKING

from voxgate.model_patterns import is_pattern
from voxgate.wire.models import Model

if TYPE_CHECKING:
    from voxgate.config import ServerConfig

# A fixed timestamp: ids are configuration, not artefacts with a creation time.
CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z


def list_models(config: ServerConfig) -> list[Model]:
    """Engine instance names (owned by ``voxgate``) and ``[models]`` aliases, in config order.

    Chat proxies are not listed: their model ids are the upstream LLM's; nor are diarizers, which
    are no model of their own. Nor are patterns: a client shows the list as ids to pick, and
    ``gpt-*transcribe*`` is none.
    """
    models = [
        Model(id=name, created=CREATED, owned_by="voxgate")
        for name, instance in config.instances.items()
        if name not in config.models and instance.task in {"stt", "tts"}
    ]
    models += [
        Model(id=alias, created=CREATED, owned_by=route.owned_by)
        for alias, route in config.models.items()
        if not is_pattern(alias)
    ]
    return models


def find_model(config: ServerConfig, wanted: str) -> Model | None:
    """A listed id, else an id a ``[models]`` pattern serves: as that id, owned as routed."""
    for model in list_models(config):
        if model.id == wanted:
            return model
    match = config.pattern_route(wanted)
    if match is None:
        return None
    return Model(id=wanted, created=CREATED, owned_by=match[1].owned_by)
