"""Voice blends and names: parse ``jf_alpha(2)+jm_kumo(1)``, mix style tensors, label voices.

A Kokoro voice is a stack of style vectors (one per input length); a blend is the weighted
sum of such stacks, which is what Kokoro-FastAPI's ``a(2)+b(1)`` syntax means too.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from numpy.typing import NDArray

Blend: TypeAlias = tuple[tuple[str, float], ...]
"""``(voice, weight)`` pairs sorted by voice, weights summing to 1: one key per mix."""

BLEND_SYNTAX = "voices joined with `+`, each with an optional positive weight: `a(2)+b(1)`"

_TERM = re.compile(r"(?P<voice>[\w.-]+)(?:\((?P<weight>[^()]*)\))?")
_NAME = re.compile(r"[\w.-]+")
_SPACE = re.compile(r"\s+")

_LANGUAGES = {
    "a": "American English",
    "b": "British English",
    "e": "Spanish",
    "f": "French",
    "h": "Hindi",
    "i": "Italian",
    "j": "Japanese",
    "p": "Brazilian Portuguese",
    "z": "Mandarin Chinese",
}
_GENDERS = {"f": "female", "m": "male"}


class BlendError(ValueError):
    """A blend that cannot be mixed: bad syntax, a bad weight, or a voice the file lacks."""


def is_voice_name(text: str) -> bool:
    """Whether ``text`` can name a voice or a named blend (no blend punctuation)."""
    return _NAME.fullmatch(text) is not None


def is_expression(text: str) -> bool:
    """Whether ``text`` is written as a blend rather than as a single name."""
    return "+" in text or "(" in text


def parse_blend(expression: str) -> Blend:
    """``a(2)+b(1)`` → ``(("a", 2/3), ("b", 1/3))``; raise ``BlendError`` on bad syntax."""
    terms: list[tuple[str, float]] = []
    for part in expression.split("+"):
        match = _TERM.fullmatch(_SPACE.sub("", part))
        if match is None:
            msg = f"`{part.strip()}` in `{expression}` is not a voice or `voice(weight)`"
            raise BlendError(f"{msg}; a blend is {BLEND_SYNTAX}")
        weight = match.group("weight")
        terms.append((match.group("voice"), _weight(weight, expression) if weight else 1.0))
    return normalize(terms)


def normalize(terms: Iterable[tuple[str, float]]) -> Blend:
    """Merge repeated voices, check weights, scale them to sum to 1; sorted for cache keys."""
    merged: dict[str, float] = {}
    for voice, weight in terms:
        if not (math.isfinite(weight) and weight > 0):
            msg = f"the weight of `{voice}` must be a positive number, not {weight}"
            raise BlendError(msg)
        merged[voice] = merged.get(voice, 0.0) + weight
    if not merged:
        msg = f"a blend names at least one voice: {BLEND_SYNTAX}"
        raise BlendError(msg)
    total = sum(merged.values())
    return tuple((voice, merged[voice] / total) for voice in sorted(merged))


def check_voices(blend: Blend, known: Iterable[str]) -> None:
    """Raise ``BlendError`` naming every voice of ``blend`` that ``known`` lacks."""
    available = set(known)
    unknown = [voice for voice, _ in blend if voice not in available]
    if unknown:
        names = ", ".join(f"`{voice}`" for voice in unknown)
        msg = f"unknown voice {names}; voices: {', '.join(sorted(available))}"
        raise BlendError(msg)


def mix(styles: Mapping[str, NDArray[np.float32]], blend: Blend) -> NDArray[np.float32]:
    """The weighted sum of the voices' style stacks (all of one shape, checked at load)."""
    first, weight = blend[0]
    mixed = styles[first] * np.float32(weight)
    for voice, weight in blend[1:]:
        mixed += styles[voice] * np.float32(weight)
    return mixed.astype(np.float32, copy=False)


def describe(blend: Blend) -> str:
    """``jf_alpha 67% + jm_kumo 33%``: a blend as people read it."""
    return " + ".join(f"{voice} {weight:.0%}" for voice, weight in blend)


def display_name(voice: str) -> str:
    """``jf_alpha`` → ``Alpha (Japanese female)``, from Kokoro's ``<language><gender>_`` ids."""
    prefix, underscore, rest = voice.partition("_")
    if not underscore or len(prefix) != 2 or not rest:  # noqa: PLR2004 - two letters
        return voice
    language = _LANGUAGES.get(prefix[0])
    gender = _GENDERS.get(prefix[1])
    if language is None or gender is None:
        return voice
    return f"{rest.replace('_', ' ').title()} ({language} {gender})"


def _weight(text: str, expression: str) -> float:
    try:
        return float(text)
    except ValueError:
        msg = f"`{text}` in `{expression}` is not a weight; a blend is {BLEND_SYNTAX}"
        raise BlendError(msg) from None
