"""The first-clause cut (``PiecePolicy``): where a reply's first piece ends, whole or streamed."""

from __future__ import annotations

import random

import pytest

from voxgate.services.sentences import FIRST_CLAUSE, PiecePolicy, SentenceBuffer, pieces

LIBRARY = (
    "The library opens early in the morning. Please bring your own card, and return the "
    "books you borrowed last month. The reading room on the second floor is quiet today, "
    "so come and stay a while."
)


@pytest.mark.parametrize(
    ("text", "first"),
    [
        # a comma after the third word or later ends the first piece
        ("Please bring your own card, and return the books.", "Please bring your own card,"),
        # semicolons, colons and dashes too
        ("We have three options; the first is cheap.", "We have three options;"),
        ("Here is the plan: we leave at nine.", "Here is the plan:"),
        ("The weather was lovely \u2014 sunny and warm all day.", "The weather was lovely \u2014"),
        ("The weather was lovely - sunny and warm all day.", "The weather was lovely -"),
        # a comma before the third word is too early: the piece would sound clipped
        ("Yes, I can help you with that today.", "Yes, I can help you"),
        ("Well, sure, we could meet at the station tomorrow.", "Well, sure, we could meet"),
        # no punctuation: before the first word that starts a phrase
        ("The library opens early in the morning.", "The library opens early"),
        ("I met with Dr. Smith yesterday at noon in the park.", "I met with Dr. Smith yesterday"),
        # neither: after six words, but not after one that leans on the next
        (
            "Absolutely wonderful fantastic marvellous amazing brilliant excellent stuff here.",
            "Absolutely wonderful fantastic marvellous amazing brilliant",
        ),
        (
            "Seven big red apples fell the huge tree branches down today.",
            "Seven big red apples fell",
        ),
        # numbers and abbreviations never end a piece, nor split a word
        ("It costs 3,500 dollars to fly there and back again.", "It costs 3,500 dollars"),
        ("Python 3.5 was released in 2015 with many changes.", "Python 3.5 was released"),
    ],
)
def test_the_first_piece_ends_at_the_first_clause(text, first):
    parts = pieces(text)
    assert parts[0] == first
    assert " ".join(parts) == text


def test_the_first_piece_keeps_the_minimum_on_both_sides():
    # shorter than twice the minimum: said whole, as one piece
    assert pieces("Hello there!") == ["Hello there!"]
    assert pieces("Sure, I can help you.") == ["Sure, I can help you."]
    # the comma after word four leaves only two words: not a cut there
    assert pieces("Please bring your card, thank you.") == ["Please bring your card, thank you."]
    # no cut leaves the rest shorter than the minimum either
    assert pieces("We met at the bar and then left.")[0] == "We met at the bar"
    assert pieces("Hi")[0] == "Hi"


def test_abbreviations_and_initials_never_end_the_first_piece():
    parts = pieces("Dr. Smith paid $3.50 at 3 p.m. on Jan. 5 and then went home.")
    assert parts[0] == "Dr. Smith paid $3.50"
    assert not any(p.endswith(("Dr.", "J.", "p.m.", "Jan.")) for p in parts[:-1])
    assert pieces("She met J. R. R. Tolkien once at a party.")[0] == "She met J. R. R. Tolkien"


def test_later_pieces_stay_sentence_sized_or_larger():
    parts = pieces(LIBRARY)
    assert parts == [
        "The library opens early",
        (
            "in the morning. Please bring your own card, and return the books you borrowed "
            "last month. The reading room on the second floor is quiet today, so come and "
            "stay a while."
        ),
    ]
    many = " ".join(f"Sentence number {n} is here, as it was before." for n in range(60))
    long = pieces(many)
    assert long[0] == "Sentence number 0 is here,"
    assert all(len(p) <= FIRST_CLAUSE.piece_chars for p in long)
    assert all(len(p) > 300 for p in long[1:-1]), "packed up to the piece size"
    assert " ".join(long) == many


def test_a_continuing_text_is_not_cut():
    assert pieces(LIBRARY, opening=False) == [LIBRARY]


def test_the_policy_is_one_object_with_its_numbers():
    short = PiecePolicy(first_min_words=2, first_max_words=3)
    assert short.pieces("The library opens early in the morning.")[0] == "The library opens"
    assert short.pieces("Hi there, my friend.")[0] == "Hi there,"
    assert short.pieces("Hi there, friend.") == ["Hi there, friend."]


def feed_in(chunks: list[str], buffer: SentenceBuffer) -> list[str]:
    released = [piece for chunk in chunks for piece in buffer.feed(chunk)]
    return released + buffer.flush()


@pytest.mark.parametrize(
    "text",
    [
        LIBRARY,
        "Yes, I can help you with that today. What would you like to know?",
        "Dr. Smith paid $3.50 at 3 p.m. on Jan. 5 and then went home. Bye now.",
        "It costs 3,500 dollars to fly there and back again, they say.",
        "Hello there! How are you doing on this fine morning, my friend?",
        "Absolutely wonderful fantastic marvellous amazing brilliant excellent stuff here.",
        "Short one.\n\nA second paragraph without a stop\n\nAnd a third one, which goes on a bit.",
    ],
)
def test_a_streamed_reply_is_cut_where_the_whole_text_is(text):
    whole = pieces(text)
    rng = random.Random(text)  # noqa: S311 - reproducible chunkings, not secrets
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(text)), k=min(12, len(text) - 1)))
        chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        released = feed_in(chunks, SentenceBuffer())
        assert released[0] == whole[0], chunks
        assert " ".join(released) == " ".join(whole)


def test_the_first_clause_leaves_before_its_sentence_ends():
    buffer = SentenceBuffer()
    released = []
    for word in LIBRARY.split()[:7]:  # "The library opens early in the morning."
        released += buffer.feed(word + " ")
        if released:
            break
    assert released == ["The library opens early"]
    assert buffer.feed("Please ") == ["in the morning."]
    words = SentenceBuffer()
    # released once three words follow the comma (the last one may still grow)
    assert words.feed("Please bring your own card, and return the") == []
    assert words.feed(" books") == ["Please bring your own card,"]


def test_a_buffer_without_a_policy_releases_whole_sentences():
    released = feed_in([LIBRARY], SentenceBuffer(policy=None))
    assert released[0] == "The library opens early in the morning."
