"""Built-in plugin ``routing``: the default answer to ``resolve_model``.

An OpenAI model id resolves, for the task asked, through:

1. its exact ``[models]`` key, if it has one: that route decides;
2. else the instance of the same name, if there is one: it serves its own task only;
3. else the most specific ``[models]`` pattern that matches it and names an instance for the
   task (``voxgate.model_patterns`` says how specific; ties go to the one written first).

Chat model ids belong to the upstream LLM, so a chat request none of these answers goes to the
first ``[chat.*]`` proxy. The id itself is never rewritten: callers keep the one the client sent.
It is ``trylast``, so any plugin that routes differently simply answers first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voxgate import hookimpl

if TYPE_CHECKING:
    from voxgate import ServerConfig, Task


@hookimpl(trylast=True)
def resolve_model(model: str, task: Task, config: ServerConfig) -> str | None:
    """Exact ``[models]`` key, else an instance named ``model``, else a ``[models]`` pattern."""
    route = config.models.get(model)
    instance = config.instances.get(model)
    if route is not None:
        target: str | None = getattr(route, task)
    elif instance is not None:
        target = instance.name if instance.task == task else None
    else:
        match = config.pattern_route(model, task)
        target = getattr(match[1], task) if match is not None else None
    if target is None and task == "chat":
        return next((proxy.name for proxy in config.instances_for("chat")), None)
    return target
