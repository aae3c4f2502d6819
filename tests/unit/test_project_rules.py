"""Rules about the source tree that ruff cannot hold on its own (a ``noqa`` silences it)."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import voxgate

REPO = Path(__file__).resolve().parents[2]
# voxgate.testing is a pytest toolkit for plugin authors: asserts are its job
TEST_TOOLKIT = REPO / "server" / "voxgate" / "testing"


def production_files() -> list[Path]:
    return sorted(
        path
        for root in (REPO / "server" / "voxgate", REPO / "plugins")
        for path in root.rglob("*.py")
        if TEST_TOOLKIT not in path.parents
    )


def test_no_assert_statements_in_production_code():
    """``python -O`` strips asserts: a check the server relies on must be a real ``raise``."""
    files = production_files()
    assert REPO / "server" / "voxgate" / "app.py" in files
    found = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for path in files
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        if isinstance(node, ast.Assert)
    ]
    assert not found, f"raise, or narrow the type, instead of assert: {found}"


# hatchling's default pattern for `[tool.hatch.version] path`
HATCH_VERSION = re.compile(r"""(?im)^(__version__|VERSION) *= *(['"])v?(?P<version>.+?)\2""")


def test_the_version_is_written_in_one_place():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    assert "version" not in project, "pyproject.toml reads the version, it does not repeat it"
    assert "version" in project["dynamic"]
    source = REPO / pyproject["tool"]["hatch"]["version"]["path"]
    assert source == REPO / "server" / "voxgate" / "__init__.py"
    (match,) = HATCH_VERSION.finditer(source.read_text(encoding="utf-8"))
    assert match.group("version") == voxgate.__version__


def _locked_names() -> set[str]:
    from packaging.requirements import Requirement

    lock = REPO / "requirements" / "constraints.txt"
    names = set()
    for raw in lock.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            names.add(canonical(Requirement(line).name))
    return names


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_declared_dependency_is_in_the_lock():
    """CI installs from requirements/constraints.txt: a dependency missing there is unpinned.

    Regenerate the lock with the command in CONTRIBUTING.md after editing pyproject.toml.
    """
    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        declared += extra
    names = {canonical(Requirement(spec).name) for spec in declared} - {"voxgate"}
    assert "faster-whisper" in names
    missing = sorted(names - _locked_names())
    assert not missing, f"in pyproject.toml but not in requirements/constraints.txt: {missing}"
