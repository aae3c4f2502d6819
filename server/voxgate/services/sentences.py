"""Split speech input into pieces an engine can say one at a time, the first one short.

The first audio can leave only when the first piece is synthesized, and an engine's time
grows with the length of what it says, so a reply opens with its first clause alone (see
``PiecePolicy``); later pieces group whole sentences up to a size engines handle well, for
prosody and throughput. Splits never happen after common abbreviations, initials or inside
numbers ("Dr. Smith paid $3.50.").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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


# Words a phrase often starts with: a first piece with no punctuation to end at ends before one.
_PHRASE_STARTS = frozenset(
    {
        "and",
        "but",
        "or",
        "nor",
        "so",
        "yet",
        "because",
        "since",
        "unless",
        "until",
        "while",
        "when",
        "whenever",
        "where",
        "if",
        "though",
        "although",
        "whether",
        "which",
        "who",
        "whom",
        "whose",
        "that",
        "than",
        "as",
        "in",
        "on",
        "at",
        "with",
        "without",
        "for",
        "from",
        "to",
        "into",
        "onto",
        "about",
        "after",
        "before",
        "during",
        "through",
        "across",
        "between",
        "under",
        "over",
        "near",
    }
)
# Words that lean on the next one: a first piece never ends with one.
_LEANING = frozenset(
    {
        "a",
        "an",
        "the",
        "this",
        "that",
        "these",
        "those",
        "my",
        "your",
        "his",
        "her",
        "its",
        "our",
        "their",
        "some",
        "any",
        "no",
        "every",
        "each",
        "very",
        "of",
        "to",
        "and",
        "or",
        "but",
    }
)
_CLAUSE_MARKS = ",;:\u2014\u2013"
_DASHES = frozenset({"-", "--", "\u2014", "\u2013"})
_CLOSERS = "\"'\u201d\u2019)]"


@dataclass(frozen=True)
class PiecePolicy:
    """Where a reply's text is cut into engine calls: its first clause alone, then big pieces.

    A streaming client hears nothing until the first piece is synthesized, and an engine's
    time grows with the piece's length (Kokoro on two cores: about 0.75 s for four words,
    1 s for a seven-word sentence), so the first piece of a reply ends at the first clause
    boundary (``,`` ``;`` ``:`` or a dash) or before the first word that starts a phrase
    ("in", "and", "which"…), whichever comes first, from ``first_min_words`` words on; with
    neither by ``first_max_words`` words it ends there (or a word or two before). It never
    ends after a word that leans on the next ("the", "of") or after an abbreviation. Both
    sides of a cut keep ``first_min_words`` words, so no piece sounds clipped: a first
    sentence shorter than twice that is said whole. Later pieces pack whole sentences up to
    ``piece_chars`` for prosody and throughput. Text without spaces between words (Chinese,
    Japanese) is one word to this policy: its first sentence goes whole, as before.
    """

    first_min_words: int = 3
    first_max_words: int = 6
    first_max_chars: int = 200  # a first sentence that is not cut (few, long words)
    piece_chars: int = 400
    phrase_starts: frozenset[str] = field(default=_PHRASE_STARTS, repr=False)
    leaning: frozenset[str] = field(default=_LEANING, repr=False)

    def pieces(self, text: str, *, opening: bool = True) -> list[str]:
        """``text`` in synthesis order, its first clause alone when ``opening`` a reply.

        ``opening=False`` is for text that continues a reply already speaking, and for a
        reply no one hears before it is whole.
        """
        out: list[str] = []
        for index, sentence in enumerate(sentences(text)):
            rest = sentence
            if opening and index == 0:
                words = sentence.split()
                cut = self.first_cut(words, ended=True)
                if cut is not None:
                    out.append(" ".join(words[:cut]))
                    rest = " ".join(words[cut:])
            limit = self.first_max_chars if opening and not out else self.piece_chars
            for part in _bounded(rest, limit):
                if out and (len(out) > 1 or not opening) and _fits(out[-1], part, self):
                    out[-1] = f"{out[-1]} {part}"
                else:
                    out.append(part)
        return out

    def first_cut(self, words: list[str], *, ended: bool) -> int | None:
        """How many of ``words`` (a reply's first sentence, from its start) to say first.

        ``ended``: the sentence is complete. Otherwise more words may follow (an LLM still
        writing) and a cut is given only once no later word can change it, so a streamed
        reply is cut exactly where the whole text would be. None: no cut (yet).
        """
        least, most = self.first_min_words, self.first_max_words
        last = min(most, len(words) - least)  # the rest keeps ``least`` words
        for count in range(least, last + 1):
            if _ends_clause(words[count - 1]) or (
                self._starts_phrase(words[count]) and self._may_end(words[count - 1])
            ):
                return count
        if not ended and len(words) < most + least:
            return None  # a clause or phrase may still begin before ``most`` words
        for count in range(last, least - 1, -1):
            if self._may_end(words[count - 1]):
                return count
        return None

    def _starts_phrase(self, word: str) -> bool:
        return word.lower().strip(_CLOSERS + "(") in self.phrase_starts

    def _may_end(self, word: str) -> bool:
        """Can a first piece end with ``word``? Not with "the", "of", nor "Dr." or "J."."""
        return word.lower() not in self.leaning and not word.endswith(".")


FIRST_CLAUSE = PiecePolicy()
"""The policy of every spoken reply: speech, chat audio, realtime, ``RouteContext.speak``."""


def _ends_clause(word: str) -> bool:
    return word in _DASHES or word.rstrip(_CLOSERS).endswith(tuple(_CLAUSE_MARKS))


def _fits(piece: str, part: str, policy: PiecePolicy) -> bool:
    return len(piece) + 1 + len(part) <= policy.piece_chars


def pieces(text: str, *, opening: bool = True) -> list[str]:
    """``text`` in synthesis order under ``FIRST_CLAUSE`` (see ``PiecePolicy.pieces``)."""
    return FIRST_CLAUSE.pieces(text, opening=opening)


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
    the text so far never ends one early; ``flush`` releases what is left. The first
    sentence's first clause is released on its own as soon as ``policy`` can cut it (the
    words after the cut have arrived), so the engine can start on it while the LLM writes
    on; ``policy=None`` releases whole sentences only.

    Public (``voxgate.SentenceBuffer``): a plugin that receives text to speak in pieces (a
    protocol's streamed text) feeds it here and speaks each sentence with
    ``RouteContext.speak`` as soon as it is complete, split exactly as the HTTP API splits.
    """

    def __init__(self, policy: PiecePolicy | None = FIRST_CLAUSE) -> None:
        self._text = ""
        self._policy = policy
        self._opening = policy is not None

    def feed(self, delta: str) -> list[str]:
        """Add ``delta``; the sentences (or first clause) it completed."""
        self._text += delta
        found = sentences(self._text)
        tail = " " if self._text[-1:].isspace() else ""
        complete = len(found) > 1  # the last sentence may still grow
        if self._opening and found:
            words = found[0].split()
            known = words if complete or tail else words[:-1]  # the last word may grow too
            cut = self._cut(known, ended=complete)
            if cut is not None:
                head, rest = " ".join(words[:cut]), " ".join(words[cut:])
                if not complete:
                    self._text = rest + tail
                    return [head]
                found[:1] = [head, rest]
        if not complete:
            return []
        self._opening = False
        self._text = found[-1] + tail
        return found[:-1]

    def flush(self) -> list[str]:
        """The rest of the text, as sentences (the first clause apart, if it has one)."""
        found = sentences(self._text)
        if self._opening and found:
            words = found[0].split()
            cut = self._cut(words, ended=True)
            if cut is not None:
                found[:1] = [" ".join(words[:cut]), " ".join(words[cut:])]
        self._text, self._opening = "", False
        return found

    def _cut(self, words: list[str], *, ended: bool) -> int | None:
        """Where the policy cuts the first sentence; after a cut, only sentences are released."""
        cut = None if self._policy is None else self._policy.first_cut(words, ended=ended)
        if cut is not None:
            self._opening = False
        return cut
