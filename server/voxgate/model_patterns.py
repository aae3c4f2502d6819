"""``[models]`` keys that are glob patterns: which keys are, and which one an id falls under.

OpenAI names a new model every few months (``gpt-transcribe``, ``gpt-realtime-2.1-mini``); a
pattern key such as ``"gpt-*transcribe*"`` routes the ids that do not exist yet, so clients that
default to them work without a config change. Patterns are the stdlib's ``fnmatch`` syntax
(``*``, ``?``, ``[seq]``), matched case-sensitively, as ids are.

Precedence, so the outcome never depends on chance: an exact key or an instance name always
beats a pattern (the routing plugin checks those first), and among the patterns that match, the
most specific wins: the one with the longest literal part (the key without its ``*`` and ``?``),
then the one written first.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

PATTERN_CHARS = frozenset("*?[")
"""What makes a key a pattern: the characters ``fnmatch`` gives a meaning."""


def is_pattern(key: str) -> bool:
    """Whether a ``[models]`` key is a glob pattern rather than one concrete id."""
    return not PATTERN_CHARS.isdisjoint(key)


def literal_length(pattern: str) -> int:
    """How specific a pattern is: its length without the wildcards ``*`` and ``?``."""
    return len(pattern) - pattern.count("*") - pattern.count("?")


def by_precedence(patterns: Iterable[str]) -> list[str]:
    """Most specific first; equally specific ones keep their config order (the sort is stable)."""
    return sorted(patterns, key=literal_length, reverse=True)


def first_match(patterns: Iterable[str], model_id: str) -> str | None:
    """The first of ``patterns`` (already in precedence order) that ``model_id`` matches."""
    return next((pattern for pattern in patterns if fnmatchcase(model_id, pattern)), None)
