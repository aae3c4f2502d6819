"""Word error rate for speech-to-text tests, with no dependency beyond the standard library.

Tests compare a transcript with the text a fixture was generated from (``tests/data/fixtures.json``).
Both sides are normalized first, so casing and punctuation never count as errors.
"""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = re.compile(r"['\u2019`]")
_NON_WORD = re.compile(r"[\W_]+")


def normalize(text: str) -> list[str]:
    """Split ``text`` into normalized words.

    Text is lowercased and stripped of diacritics (``después`` -> ``despues``, ``ñ`` -> ``n``), so
    an engine's accent slips do not count as errors; apostrophes are dropped (``don't`` -> ``dont``)
    and every other run of non-word characters (punctuation, hyphens, whitespace) separates words.

    Args:
        text: Any transcript or reference text.

    Returns:
        The words, in order; empty for a text with no word characters.
    """
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(char for char in text if not unicodedata.combining(char))
    text = _APOSTROPHES.sub("", text)
    return [word for word in _NON_WORD.split(text) if word]


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance over words: substitutions, deletions and insertions, each costing 1.

    Args:
        reference: The expected words.
        hypothesis: The recognized words.

    Returns:
        The least number of word edits turning ``reference`` into ``hypothesis``.
    """
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, start=1):
            current.append(
                min(
                    previous[j] + 1,  # deletion
                    current[j - 1] + 1,  # insertion
                    previous[j - 1] + (ref_word != hyp_word),  # substitution or match
                )
            )
        previous = current
    return previous[-1]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference``, after :func:`normalize`.

    Args:
        reference: The text that was spoken.
        hypothesis: The transcript to score.

    Returns:
        Word edits divided by the number of reference words: 0.0 is a perfect transcript; the value
        can exceed 1.0 when the hypothesis has many extra words. An empty reference scores 0.0
        against an empty hypothesis and 1.0 against anything else.
    """
    ref_words = normalize(reference)
    hyp_words = normalize(hypothesis)
    if not ref_words:
        return 0.0 if not hyp_words else 1.0
    return edit_distance(ref_words, hyp_words) / len(ref_words)
