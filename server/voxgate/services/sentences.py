"""Split speech input into pieces an engine can say one at a time, first piece short.

The first audio can leave only when the first piece is synthesized, so the first piece is
one sentence; later pieces group sentences up to a size engines handle well. Splits never
happen after common abbreviations, initials or inside numbers ("Dr. Smith paid $3.50.").
"""

from __future__ import annotations

import re

FIRST_PIECE_CHARS = 200
PIECE_CHARS = 400

_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "inc",
        "ltd",
        "co",
        "corp",
        "no",
        "nos",
        "fig",
        "figs",
        "approx",
        "dept",
        "est",
        "min",
        "max",
        "avg",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
        "gen",
        "col",
        "lt",
        "sgt",
        "capt",
        "rev",
        "hon",
        "p.s",
        "a.m",
        "p.m",
        "u.s",
        "u.k",
    ]
)
# a sentence end: terminal punctuation, closing quotes/brackets, then whitespace
# (CJK full stops and full-width marks included, as escapes)
_END = re.compile(
    r"""[.!?\u2026]+["'\u201d\u2019)\]]*(?:\s+|$)|[\u3002\uff01\uff1f]+["'\u201d\u2019)\]]*\s*"""
)
_SOFT_BREAK = re.compile(r"[,;:\u2014\u2013]\s+")


def sentences(text: str) -> list[str]:
    """Sentences of ``text`` (paragraph breaks always end one), whitespace normalized."""
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n|\r?\n(?=\s*[-*•\d]+[.)]?\s)", text):
        flat = " ".join(paragraph.split())
        start = 0
        for match in _END.finditer(flat):
            end = match.end()
            if _is_abbreviation(flat[start : match.start() + 1]) and end < len(flat):
                continue
            piece = flat[start:end].strip()
            if piece:
                out.append(piece)
            start = end
        rest = flat[start:].strip()
        if rest:
            out.append(rest)
    return out


def _is_abbreviation(sentence: str) -> bool:
    """Does ``sentence`` end with ``Dr.``, ``e.g.``, an initial (``J.``) or a number (``3.``)?"""
    if not sentence.endswith("."):
        return False
    last = sentence.rsplit(maxsplit=1)[-1].rstrip(".").lower().lstrip("(\"'")
    if last in _ABBREVIATIONS:
        return True
    return len(last) == 1 and last.isalpha()


def pieces(text: str) -> list[str]:
    """The text in synthesis order: the first sentence alone, then groups up to a size."""
    out: list[str] = []
    for sentence in sentences(text):
        limit = FIRST_PIECE_CHARS if not out else PIECE_CHARS
        for part in _bounded(sentence, limit):
            if out and len(out) > 1 and len(out[-1]) + 1 + len(part) <= PIECE_CHARS:
                out[-1] = f"{out[-1]} {part}"
            else:
                out.append(part)
    return out


def _bounded(sentence: str, limit: int) -> list[str]:
    """A long sentence cut at commas and dashes, else at spaces, into parts ≤ ``limit``."""
    if len(sentence) <= limit:
        return [sentence]
    return [
        chunk
        for part in _packed(_clauses(sentence), limit)
        for chunk in (_packed(part.split(), limit) if len(part) > limit else [part])
    ]


def _clauses(sentence: str) -> list[str]:
    clauses, start = [], 0
    for match in _SOFT_BREAK.finditer(sentence):
        clauses.append(sentence[start : match.end()].strip())
        start = match.end()
    clauses.append(sentence[start:].strip())
    return [c for c in clauses if c]


def _packed(items: list[str], limit: int) -> list[str]:
    """``items`` joined by spaces, greedily, into strings ≤ ``limit`` (an item alone may not)."""
    packed: list[str] = []
    for item in items:
        if packed and len(packed[-1]) + 1 + len(item) <= limit:
            packed[-1] = f"{packed[-1]} {item}"
        else:
            packed.append(item)
    return packed


class SentenceBuffer:
    """Text that arrives in pieces (an LLM's stream), released one complete sentence at a time.

    A sentence is complete once the next one has begun, so ``Dr.`` or ``3.`` at the end of
    the text so far never ends one early; ``flush`` releases what is left.

    Public (``voxgate.SentenceBuffer``): a plugin that receives text to speak in pieces (a
    protocol's streamed text) feeds it here and speaks each sentence with
    ``RouteContext.speak`` as soon as it is complete, split exactly as the HTTP API splits.
    """

    def __init__(self) -> None:
        self._text = ""

    def feed(self, delta: str) -> list[str]:
        """Add ``delta``; the sentences it completed."""
        self._text += delta
        found = sentences(self._text)
        if len(found) < 2:  # noqa: PLR2004 - the last sentence may still grow
            return []
        tail = " " if self._text[-1:].isspace() else ""
        self._text = found[-1] + tail
        return found[:-1]

    def flush(self) -> list[str]:
        """The rest of the text, as sentences."""
        rest, self._text = sentences(self._text), ""
        return rest
