"""The plugin API is ``voxgate`` (and, in tests, ``voxgate.testing``): nothing else, enforced.

Built-in plugins (``plugins/``) and the plugins of the docs (``docs/plugins/``: the template, the
tutorials) are written exactly as a third party would write them. Every import of voxgate in
their ``.py`` files is parsed, and anything that reaches past the public names fails with its
``file:line``. Every public name must exist and be documented.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from pathlib import Path

import pytest

import voxgate
import voxgate.testing
from voxgate.testing import PluginInfo, installed_plugins

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_TREES = (ROOT / "plugins", ROOT / "docs" / "plugins")
SKIPPED_DIRS = {"__pycache__", "build", "dist", "node_modules"}

PUBLIC = "voxgate"
TESTING = "voxgate.testing"


def is_test_file(path: Path) -> bool:
    """Test modules (``tests/``, ``test_*.py``, ``*_test.py``, ``conftest.py``) may use testing."""
    return (
        "tests" in path.parts
        or path.name.startswith("test_")
        or path.name.endswith("_test.py")
        or path.name == "conftest.py"
    )


def plugin_sources() -> list[Path]:
    found = []
    for tree in PLUGIN_TREES:
        for path in sorted(tree.rglob("*.py")):
            parts = path.relative_to(tree).parts[:-1]
            if any(part in SKIPPED_DIRS or part.startswith(".") for part in parts):
                continue
            found.append(path)
    return found


def _allowed_names(module: str) -> set[str]:
    return set(importlib.import_module(module).__all__) | {"__version__"}


class _Checker(ast.NodeVisitor):
    """Collects ``file:line: what`` for each use of voxgate beyond its public API."""

    def __init__(self, filename: str, *, test_file: bool) -> None:
        self.filename = filename
        self.allowed = {PUBLIC, TESTING} if test_file else {PUBLIC}
        self.names = {module: _allowed_names(module) for module in self.allowed}
        self.aliases: dict[str, str] = {}  # local name -> "voxgate" / "voxgate.testing"
        self.found: list[str] = []

    def report(self, node: ast.AST, message: str) -> None:
        self.found.append(f"{self.filename}:{getattr(node, 'lineno', 0)}: {message}")

    def allowed_module(self, node: ast.AST, module: str) -> bool:
        """Whether ``module`` may be imported; reports it if it is voxgate's but not allowed."""
        if module != PUBLIC and not module.startswith(PUBLIC + "."):
            return False
        if module not in self.allowed:
            hint = "" if module != TESTING else " (only test files may use voxgate.testing)"
            self.report(node, f"imports {module}: plugins may import only voxgate{hint}")
            return False
        return True

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if self.allowed_module(node, alias.name) and (alias.asname or "." not in alias.name):
                self.aliases[alias.asname or alias.name] = alias.name

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module or not self.allowed_module(node, node.module):
            return
        for alias in node.names:
            if alias.name not in self.names[node.module]:
                self.report(node, f"imports {alias.name!r} from {node.module}: not public")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        dynamic = (isinstance(func, ast.Name) and func.id == "__import__") or (
            isinstance(func, ast.Attribute) and func.attr == "import_module"
        )
        first = node.args[0] if node.args else None
        if dynamic and isinstance(first, ast.Constant) and isinstance(first.value, str):
            self.allowed_module(node, first.value)
        self.generic_visit(node)

    def check_attributes(self, tree: ast.AST) -> None:
        """``import voxgate`` then ``voxgate.engines.base``: the attribute must be public too."""
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in self.aliases
            ):
                module = self.aliases[node.value.id]
                if node.attr not in self.names[module]:
                    self.report(node, f"uses {module}.{node.attr}: not public")


def violations(source: str, filename: str, *, test_file: bool) -> list[str]:
    """``file:line: what`` for every use of voxgate beyond its public API in ``source``."""
    tree = ast.parse(source, filename)
    checker = _Checker(filename, test_file=test_file)
    checker.visit(tree)
    checker.check_attributes(tree)
    return checker.found


def test_plugins_use_only_the_public_api():
    sources = plugin_sources()
    assert any(p.is_relative_to(ROOT / "plugins") for p in sources)
    assert any(p.is_relative_to(ROOT / "docs" / "plugins" / "template") for p in sources)
    problems = [
        problem
        for path in sources
        for problem in violations(
            path.read_text(encoding="utf-8"),
            str(path.relative_to(ROOT)),
            test_file=is_test_file(path),
        )
    ]
    assert not problems, "plugins must import only `voxgate` (tests: `voxgate.testing`):\n" + (
        "\n".join(problems)
    )


# -- the checker catches what the built-ins did before the API was public ---------------------

CAUGHT = {
    "a submodule": ("from voxgate.engines.windows import windows\n", "imports voxgate.engines"),
    "under TYPE_CHECKING too": (
        (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from voxgate.config import ServerConfig, Task\n"
        ),
        "imports voxgate.config",
    ),
    "import as": ("import voxgate.runtime as rt\n", "imports voxgate.runtime"),
    "a submodule through the package": (
        "from voxgate import config\n",
        "imports 'config' from voxgate: not public",
    ),
    "attribute access": (
        "import voxgate\nvoxgate.engines.base.TtsEngine\n",
        "uses voxgate.engines: not public",
    ),
    "import_module": (
        "import importlib\nimportlib.import_module('voxgate.plugins.hooks')\n",
        "imports voxgate.plugins.hooks",
    ),
    "testing outside tests": (
        "from voxgate.testing import fakes\n",
        "only test files may use voxgate.testing",
    ),
    "a testing submodule in tests": (
        "from voxgate.testing.fakes import FakeTtsEngine\n",
        "imports voxgate.testing.fakes",
    ),
}


@pytest.mark.parametrize("case", sorted(CAUGHT))
def test_the_checker_catches(case):
    source, expected = CAUGHT[case]
    found = violations(source, "plugin.py", test_file="in tests" in case)
    assert found, f"not caught: {source!r}"
    assert expected in found[0]
    assert found[0].startswith("plugin.py:")


def test_the_checker_allows_the_public_api():
    source = textwrap.dedent(
        """
        import voxgate
        from voxgate import TtsEngine, hookimpl, __version__
        from voxgate_example.config import ExampleConfig
        from . import sibling
        voxgate.TtsEngine, voxgate.__version__
        """
    )
    assert violations(source, "plugin.py", test_file=False) == []
    tests = "from voxgate.testing import TtsEngineContract, installed_plugins, fakes\n"
    assert violations(tests, "test_plugin.py", test_file=True) == []


# -- every public name exists and is documented -----------------------------------------------


def _attribute_docstring(module_name: str, name: str, seen: frozenset[str] = frozenset()) -> str:
    """The string literal right after ``name = ...`` in the module defining it, following imports.

    That is how a constant or an alias (``Task``, ``hookimpl``) is documented (PEP 257's
    attribute docstrings, which Sphinx and mkdocstrings read).
    """
    if module_name in seen:
        return ""
    module = importlib.import_module(module_name)
    tree = ast.parse(inspect.getsource(module))
    body = tree.body
    for index, node in enumerate(body):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return _attribute_docstring(node.module, alias.name, seen | {module_name})
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            following = body[index + 1] if index + 1 < len(body) else None
            if (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                return following.value.value
            return ""
    return ""


def _documentation(module_name: str, name: str) -> str:
    module = importlib.import_module(module_name)
    obj = getattr(module, name)
    if inspect.isclass(obj):
        return vars(obj).get("__doc__") or ""  # its own, not a base class's
    if inspect.ismodule(obj) or inspect.isroutine(obj):
        return obj.__doc__ or ""
    return _attribute_docstring(module_name, name)


@pytest.mark.parametrize(
    ("module_name", "name"),
    [("voxgate", n) for n in voxgate.__all__]
    + [("voxgate.testing", n) for n in voxgate.testing.__all__],
)
def test_public_names_exist_and_are_documented(module_name, name):
    module = importlib.import_module(module_name)
    assert hasattr(module, name), f"{module_name}.__all__ lists {name!r}, which does not exist"
    if name.startswith("__"):
        return  # module metadata (__version__), documented by convention
    assert _documentation(module_name, name).strip(), (
        f"{module_name}.{name} needs a docstring (a constant: a string literal right after it)"
        " saying what a plugin uses it for"
    )


# -- installed_plugins: discovery as `voxgate serve` does it ----------------------------------

PROBE_PLUGIN = """
from voxgate import hookimpl
from voxgate.testing import FakeTtsEngine


class ProbeEngine(FakeTtsEngine):
    kind = "probe"


@hookimpl
def register_tts_engines(register):
    register(ProbeEngine)
"""


def test_installed_plugins_finds_builtins_and_third_party(install_dist, monkeypatch, tmp_path):
    for var in ("VOXGATE_CONFIG", "VOXGATE_LOAD_PLUGINS", "VOXGATE_DISABLE_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    name = install_dist("voxgate-api-probe", "voxgate_api_probe", PROBE_PLUGIN)
    plugins = installed_plugins()
    assert plugins[name] == PluginInfo(
        name=name,
        distribution="voxgate-api-probe",
        version="1.0",
        hooks=["register_tts_engines"],
        kinds={"tts": ["probe"]},
    )
    assert plugins["routing"].distribution == "voxgate"
    assert list(plugins) == sorted(plugins)

    selecting = tmp_path / "select.toml"
    selecting.write_text("[plugins]\nload = []\n")
    assert name not in installed_plugins(selecting), "the [plugins] table selects, as for serve"
    monkeypatch.setenv("VOXGATE_CONFIG", str(selecting))
    assert name not in installed_plugins(), "VOXGATE_CONFIG is read, as by serve"
    monkeypatch.delenv("VOXGATE_CONFIG")
    monkeypatch.setenv("VOXGATE_DISABLE_PLUGINS", name)
    assert name not in installed_plugins()
