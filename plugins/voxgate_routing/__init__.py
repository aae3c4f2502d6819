"""Built-in plugin ``routing``: the default answer to ``resolve_model``.

An OpenAI model id resolves through the ``[models]`` aliases first, then to the instance of the
same name. Chat model ids belong to the upstream LLM, so any other id asked of ``chat`` goes to
the first ``[chat.*]`` proxy. It is ``trylast``, so any plugin that routes differently simply
answers first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voxgate import hookimpl

if TYPE_CHECKING:
    from voxgate import ServerConfig, Task


@hookimpl(trylast=True)
def resolve_model(model: str, task: Task, config: ServerConfig) -> str | None:
    """``[models]`` alias for this task, else an instance named ``model`` serving this task."""
    route = config.models.get(model)
    target: str | None = getattr(route, task) if route is not None else None
    if target is not None or (route is not None and task != "chat"):
        return target
    instance = config.instances.get(model)
    if instance is not None and instance.task == task:
        return instance.name
    if task == "chat":
        return next((proxy.name for proxy in config.instances_for("chat")), None)
    return None
