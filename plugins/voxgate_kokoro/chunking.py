"""Where to cut a text's phonemes into model calls, so the first audio leaves early.

kokoro-onnx packs a text into as few windows of 510 phonemes as it can: half a minute of
speech computed before the first sample. Cutting at sentences instead, packing short ones
together, gives chunks of a few seconds, each spoken with Kokoro's own prosody, and lets a
closed stream stop after the chunk in progress.
"""

from __future__ import annotations

import re

MAX_PHONEMES = 510
"""The model's context (kokoro-onnx's ``MAX_PHONEME_LENGTH``)."""

PACK_PHONEMES = 100
"""Sentences are packed into one call up to this (about 6 s of speech); a longer sentence
is a call of its own, cut at clauses or words only past ``MAX_PHONEMES``."""

SENTENCE_PAUSE = 0.25
CLAUSE_PAUSE = 0.1
"""Seconds of silence after a call ending a sentence or a clause (kokoro-onnx's defaults)."""

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def batches(phonemes: str) -> list[tuple[str, float]]:
    """``(phonemes, pause after)`` per model call, in order.

    The last call pauses only after a clause mark: the text then is a piece voxgate cut at a
    comma (a reply's first clause), and the next piece must not follow it in a rush. After a
    sentence end the text is over, or the next piece begins a sentence anyway.
    """
    from kokoro_onnx.chunker import pause_after, split_phonemes  # noqa: PLC0415 - heavy package

    pieces = [
        piece
        for sentence in _SENTENCE_END.split(phonemes.strip())
        for piece in split_phonemes(sentence, MAX_PHONEMES)
    ]
    packed: list[str] = []
    for piece in pieces:
        if packed and len(packed[-1]) + 1 + len(piece) <= PACK_PHONEMES:
            packed[-1] = f"{packed[-1]} {piece}"
        else:
            packed.append(piece)
    final = len(packed) - 1
    return [
        (batch, pause_after(batch, 0.0 if index == final else SENTENCE_PAUSE, CLAUSE_PAUSE))
        for index, batch in enumerate(packed)
    ]
