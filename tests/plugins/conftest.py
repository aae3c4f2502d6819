"""Helpers to install throwaway plugin distributions visible to importlib.metadata."""

from __future__ import annotations

import importlib
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture
def install_dist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str, str, str], str]]:
    """``install_dist(dist, module, source)``: a real distribution with a ``voxgate`` entry point.

    Writes ``<module>.py`` and ``<dist>-1.0.dist-info`` to a directory put on ``sys.path``,
    which is all ``importlib.metadata.entry_points`` needs to find it.
    """
    monkeypatch.syspath_prepend(str(tmp_path))
    created: list[str] = []

    def install(dist: str, module: str, source: str) -> str:
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        info = tmp_path / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        entry_name = module.removeprefix("voxgate_")
        (info / "entry_points.txt").write_text(f"[voxgate]\n{entry_name} = {module}\n")
        created.append(module)
        importlib.invalidate_caches()
        return entry_name

    yield install
    for module in created:
        sys.modules.pop(module, None)


def plugin_module(name: str, **impls: object) -> types.ModuleType:
    """A throwaway plugin: a module named ``name`` holding the given hook implementations."""
    module = types.ModuleType(name)
    for key, value in impls.items():
        setattr(module, key, value)
    return module
