"""The model ids voxgate serves, in OpenAI's ``Model`` shape."""

from __future__ import annotations

from typing import TYPE_CHECKING

from voxgate.wire.models import Model

if TYPE_CHECKING:
    from voxgate.config import ServerConfig

# A fixed timestamp: ids are configuration, not artefacts with a creation time.
CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z


def list_models(config: ServerConfig) -> list[Model]:
    """Engine instance names (owned by ``voxgate``) and ``[models]`` aliases, in config order.

    Chat proxies are not listed: their model ids are the upstream LLM's.
    """
    models = [
        Model(id=name, created=CREATED, owned_by="voxgate")
        for name, instance in config.instances.items()
        if name not in config.models and instance.task != "chat"
    ]
    models += [
        Model(id=alias, created=CREATED, owned_by=route.owned_by)
        for alias, route in config.models.items()
    ]
    return models
