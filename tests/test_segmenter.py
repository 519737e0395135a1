"""Segmenter: sentence and clause splitting, short-piece merging, and closed segments that only grow."""

import pytest

from voice_livemind.livemind.segmenter import (
    closed_segments,
    merge_short,
    segment,
    split_clauses,
    split_sentences,
)

# --- sentences ---------------------------------------------------------------------------------------


def test_abbreviation_does_not_end_a_sentence():
    assert split_sentences("Dr. Smith went home. He slept.") == ["Dr. Smith went home.", "He slept."]


def test_several_abbreviations():
    assert split_sentences("Mr. Jones met Dr. Smith. Then he left.") == ["Mr. Jones met Dr. Smith.", "Then he left."]


def test_decimal_does_not_end_a_sentence():
    assert split_sentences("It costs 3.5 dollars. Why?") == ["It costs 3.5 dollars.", "Why?"]


def test_question_marks_and_newlines():
    assert split_sentences("What's 37.67 minus 75.7? And why?") == ["What's 37.67 minus 75.7?", "And why?"]
    assert split_sentences("Hello there.\nHow are you?") == ["Hello there.", "How are you?"]


def test_unfinished_sentence_is_one_piece():
    assert split_sentences("What is the capital") == ["What is the capital"]


@pytest.mark.parametrize("text", ["", " ", "  \n\t "])
def test_empty_and_whitespace_input(text):
    assert split_sentences(text) == []
    assert segment(text) == []
    assert segment(text, "clause") == []
    assert closed_segments(text) == []
    assert closed_segments(text, final=True) == []


# --- clauses -----------------------------------------------------------------------------------------


def test_clause_split_at_comma_keeps_thousands_intact():
    assert split_clauses("1,000 people came, and they left") == ["1,000 people came,", "and they left"]
    assert segment("1,000 people came, and they left", "clause") == ["1,000 people came,", "and they left"]


def test_sentence_granularity_does_not_split_clauses():
    assert segment("1,000 people came, and they left") == ["1,000 people came, and they left"]


def test_clause_split_only_at_comma_followed_by_space():
    assert split_clauses("A, B,C, and 1,000, 2,500 ok") == ["A,", "B,C,", "and 1,000,", "2,500 ok"]


def test_clauses_within_several_sentences():
    text = "It costs 3.5 dollars, or 4 euros. Is that too much, in your view?"
    assert segment(text, "clause", min_chars=0) == [
        "It costs 3.5 dollars,",
        "or 4 euros.",
        "Is that too much,",
        "in your view?",
    ]


def test_unknown_granularity():
    with pytest.raises(ValueError, match="unknown granularity 'letter'"):
        segment("Hello there.", "letter")


def test_word_granularity_merges_short_words():
    assert segment("I am planning a trip to Japan", "word", min_chars=6) == ["I am planning", "a trip", "to Japan"]
    assert closed_segments("I am planning a trip to Japan", "word", min_chars=6) == ["I am planning", "a trip"]


# --- minimum length ----------------------------------------------------------------------------------


def test_short_piece_is_glued_to_the_next():
    assert merge_short(["Hi.", "How are you today?", "Fine, thanks a lot."], 10) == [
        "Hi. How are you today?",
        "Fine, thanks a lot.",
    ]


def test_short_pieces_accumulate_until_long_enough():
    assert merge_short(["Hi.", "Yo.", "Ok.", "Fine thanks."], 10) == ["Hi. Yo. Ok.", "Fine thanks."]


def test_short_last_piece_stands_alone_only_when_final():
    pieces = ["Hi.", "How are you today?", "Ok."]
    assert merge_short(pieces, 10, final=True) == ["Hi. How are you today?", "Ok."]
    assert merge_short(pieces, 10, final=False) == ["Hi. How are you today?"]


def test_only_short_pieces():
    assert merge_short(["Hi.", "Yo."], 10, final=True) == ["Hi. Yo."]  # still short, but nothing else
    assert merge_short(["Hi.", "Yo."], 10, final=False) == []


def test_piece_exactly_min_chars_stands_alone():
    assert merge_short(["abcdefghij", "klmnopqrst"], 10) == ["abcdefghij", "klmnopqrst"]
    assert merge_short(["abcdefghi", "klmnopqrst"], 10) == ["abcdefghi klmnopqrst"]


def test_segment_applies_min_chars():
    text = "Yes. What is the capital of France? No."
    assert segment(text) == ["Yes. What is the capital of France?", "No."]
    assert segment(text, min_chars=0) == ["Yes.", "What is the capital of France?", "No."]


# --- closed segments ---------------------------------------------------------------------------------


def test_closed_segments_hold_back_the_last_segment():
    text = "What is the capital of France? I think it is"
    assert closed_segments(text) == ["What is the capital of France?"]
    assert closed_segments(text, final=True) == ["What is the capital of France?", "I think it is"]


def test_closed_segments_hold_back_even_a_finished_last_sentence():
    # it may still grow ("... France? Or Spain?" is a different last sentence only after more words)
    text = "What is the capital of France? Tell me now."
    assert closed_segments(text) == ["What is the capital of France?"]
    assert closed_segments(text, final=True) == ["What is the capital of France?", "Tell me now."]


def test_closed_segments_single_unfinished_sentence():
    assert closed_segments("What is the capital") == []
    assert closed_segments("What is the capital", final=True) == ["What is the capital"]


def test_closed_segments_short_piece_waits_for_a_follower():
    text = "What is the capital of France? Ok. Tell me"
    assert closed_segments(text) == ["What is the capital of France?"]  # "Ok." waits
    assert closed_segments(text + " now. And") == ["What is the capital of France?", "Ok. Tell me now."]


def test_closed_segments_clause_granularity():
    text = "1,000 people came, and they left"
    assert closed_segments(text, "clause") == ["1,000 people came,"]
    assert closed_segments(text, "clause", final=True) == ["1,000 people came,", "and they left"]


def test_final_closed_segments_equal_segment():
    text = "Dr. Smith went home. He slept. It cost 3.5 dollars, and 1,000 birds sang."
    for granularity in ("sentence", "clause"):
        assert closed_segments(text, granularity, final=True) == segment(text, granularity)


GROWING = [
    "Dr. Smith went home. He slept. Then he woke up at 3.5 hours past noon, and 1,000 birds sang. "
    "Why? Ok. It was late, so he left.",
    "What is the capital of France? I think it is Paris, but I am not sure. Ok. Tell me. "
    "Is it Lyon, or Marseille, or Nice?",
    "Consider a number. Multiply it by 2. Then add 3.5 to it. What is e.g. the result for 4? Mr. Jones said 11.",
]


@pytest.mark.parametrize("granularity", ["sentence", "clause"])
@pytest.mark.parametrize("text", GROWING)
def test_closed_segments_only_grow_word_by_word(text, granularity):
    words = text.split(" ")
    previous: list[str] = []
    grew = 0
    for k in range(1, len(words) + 1):
        current = closed_segments(" ".join(words[:k]), granularity, 10)
        assert current[: len(previous)] == previous, f"after {k} words: {previous} -> {current}"
        grew += len(current) > len(previous)
        previous = current
    assert grew >= 2  # the test saw segments close along the way


def test_final_keeps_closed_segments_and_adds_a_short_tail_alone():
    # Once final, a short tail ("or Nice?", 8 chars) becomes a segment of its own: the segments closed
    # mid-utterance (and the notes written about them) stay valid.
    text = "Is it Lyon, or Marseille, or Nice?"
    assert closed_segments(text, "clause") == ["Is it Lyon,", "or Marseille,"]
    assert closed_segments(text, "clause", final=True) == ["Is it Lyon,", "or Marseille,", "or Nice?"]


# --- pauses ------------------------------------------------------------------------------------------


def test_a_pause_ends_a_segment_that_has_no_full_stop():
    text = "I'm planning a trip to Japan next spring I have ten days and"
    assert closed_segments(text) == []  # one sentence so far, still open
    assert closed_segments(text, breaks=(8,)) == ["I'm planning a trip to Japan next spring"]


def test_a_piece_that_ends_in_a_pause_is_closed():
    assert closed_segments("I need a flight", breaks=(4,)) == ["I need a flight"]
    assert closed_segments("I would like a flight", breaks=(3,)) == ["I would like"]  # "a flight" may still grow


def test_breaks_beyond_the_text_or_at_its_start_are_ignored():
    # the committed text lags the hypothesis the pause was counted on: the break applies once it arrives
    assert closed_segments("I need a flight", breaks=(0, 6)) == []
    assert closed_segments("I need a flight to Boston", breaks=(0, 6)) == ["I need a flight to Boston"]


def test_a_short_piece_before_a_pause_waits_for_the_next_one():
    assert closed_segments("Um so", breaks=(2,)) == []  # shorter than min_chars: glued to what follows
    assert closed_segments("Um so what is the capital", breaks=(2, 6)) == ["Um so what is the capital"]
    assert closed_segments("Um so", breaks=(2,), final=True) == ["Um so"]


def test_the_final_text_is_cut_at_the_same_pauses():
    text = "I need a flight to Boston tomorrow. Which airline"
    assert closed_segments(text, final=True, breaks=(4,)) == ["I need a flight", "to Boston tomorrow.", "Which airline"]
