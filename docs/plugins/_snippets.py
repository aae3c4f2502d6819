"""Show a tutorial's real files in its Markdown (run by cog).

The plugin tutorials build packages that live next to them (``tutorial-tts/``,
``tutorial-stt/``): CI installs and tests those packages, and the Markdown shows their code
through cog. ``cog -r docs/plugins/tutorial-tts-engine.md`` rewrites the shown code from the
files; CI runs ``cog --check`` on the same file, so text and code cannot drift apart.

A file shows whole, or one region of it: the lines between ``# region NAME`` and
``# endregion NAME`` (a comment in Python and TOML alike, and the folding markers editors
know). Marker lines never show. ``constant`` shows the value of a module-level string constant,
for outputs a test asserts (what a command prints).
"""

from __future__ import annotations

import ast
import re
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

_MARKER = re.compile(r"^\s*# (region|endregion) ([\w-]+)\s*$")
_LANGUAGES = {".py": "python", ".toml": "toml", ".sh": "bash", ".md": "markdown"}


class Snippets:
    """Fenced code blocks from the files of one tutorial package."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def file(self, name: str, *, language: str | None = None) -> str:
        """The whole file ``name`` (relative to the package), marker lines left out."""
        path = self.root / name
        return _fenced(_without_markers(_lines(path)), language or _LANGUAGES.get(path.suffix, ""))

    def region(
        self, name: str, region: str, *, dedent: bool = False, language: str | None = None
    ) -> str:
        """The lines of ``name`` between ``# region REGION`` and ``# endregion REGION``."""
        path = self.root / name
        inside = False
        found = False
        lines: list[str] = []
        for line in _lines(path):
            marker = _MARKER.match(line)
            if marker and marker.group(2) == region:
                inside = marker.group(1) == "region"
                found = True
                continue
            if inside and not marker:
                lines.append(line)
        if not found or inside:
            msg = f"{path}: no complete region {region!r}"
            raise ValueError(msg)
        if dedent:
            lines = textwrap.dedent("\n".join(lines)).split("\n")
        return _fenced(lines, language or _LANGUAGES.get(path.suffix, ""))

    def constant(self, name: str, constant: str, *, language: str = "") -> str:
        """The string assigned to ``constant`` at the top level of the Python file ``name``."""
        path = self.root / name
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == constant for t in node.targets)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                return _fenced(node.value.value.strip("\n").split("\n"), language)
        msg = f"{path}: no string constant {constant}"
        raise ValueError(msg)


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").rstrip("\n").split("\n")


def _without_markers(lines: list[str]) -> list[str]:
    """``lines`` without marker lines; the blank lines around each marker join into one run,
    as long as the longer of the two (the file's own spacing without the marker).
    """
    kept: list[str] = []
    index = 0
    while index < len(lines):
        if not _MARKER.match(lines[index]):
            kept.append(lines[index])
            index += 1
            continue
        before = len(kept) - len(_strip_blank_tail(kept))
        after = 0
        index += 1
        while index < len(lines) and not lines[index].strip():
            after += 1
            index += 1
        kept = _strip_blank_tail(kept) + [""] * max(before, after)
    return kept


def _strip_blank_tail(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return lines[:end]


def _fenced(lines: list[str], language: str) -> str:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return f"```{language}\n" + "\n".join(lines) + "\n```\n"
