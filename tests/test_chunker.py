"""SentenceChunker: streamed answer tokens -> whole sentences, each released as soon as the next begins."""

import pytest

from voice_livemind.tts.chunker import SentenceChunker


def stream(tokens):
    """Push each token; return [(token index, sentences released)] for the pushes that released any."""
    chunker = SentenceChunker()
    released = []
    for i, token in enumerate(tokens):
        out = chunker.push(token)
        if out:
            released.append((i, out))
    return chunker, released


def test_first_sentence_released_when_the_next_begins():
    tokens = ["Paris", " is", " the", " capital", ".", " It", " is", " in", " France", "."]
    chunker, released = stream(tokens)
    assert released == [(5, ["Paris is the capital."])]  # on " It", not before
    assert chunker.flush() == ["It is in France."]
    assert chunker.flush() == []


def test_nothing_released_before_the_next_sentence_begins():
    chunker = SentenceChunker()
    for token in ["Paris", " is", " the", " capital", "."]:
        assert chunker.push(token) == []
    assert chunker.push(" ") == []  # a space alone is not yet the next sentence
    assert chunker.push("It") == ["Paris is the capital."]
    assert chunker.flush() == ["It"]


def test_character_by_character():
    text = "Paris is the capital. It is in France."
    chunker, released = stream(list(text))
    assert released == [(text.index("It"), ["Paris is the capital."])]
    assert chunker.flush() == ["It is in France."]


def test_several_sentences_in_order():
    tokens = ["One", " two", ".", " Three", " four", "!", " Five", "?", " Six", "."]
    chunker, released = stream(tokens)
    assert released == [(3, ["One two."]), (6, ["Three four!"]), (8, ["Five?"])]
    assert chunker.flush() == ["Six."]


def test_two_sentences_in_one_push():
    chunker = SentenceChunker()
    assert chunker.push("One two. Three four. Fi") == ["One two.", "Three four."]
    assert chunker.flush() == ["Fi"]


@pytest.mark.parametrize("tokens", [["It", " costs", " 3", ".", "5", " dollars", ".", " Why", "?"], list("It costs 3.5 dollars. Why?")])
def test_decimal_is_not_split(tokens):
    chunker, released = stream(tokens)
    assert [out for _, out in released] == [["It costs 3.5 dollars."]]
    assert chunker.flush() == ["Why?"]


def test_newline_ends_a_sentence():
    chunker = SentenceChunker()
    assert chunker.push("First line") == []
    assert chunker.push("\n") == ["First line"]
    assert chunker.push("Second line") == []
    assert chunker.flush() == ["Second line"]


def test_newline_inside_a_push():
    chunker = SentenceChunker()
    assert chunker.push("- milk\n- eg") == ["- milk"]
    assert chunker.push("gs\n") == ["- eggs"]
    assert chunker.flush() == []


def test_blank_lines_give_no_empty_sentences():
    chunker = SentenceChunker()
    assert chunker.push("Yes.\n\n") == ["Yes."]
    assert chunker.push("\n") == []
    assert chunker.flush() == []


def test_flush_on_empty():
    chunker = SentenceChunker()
    assert chunker.flush() == []
    assert chunker.push("") == []
    assert chunker.flush() == []
    assert chunker.push("   ") == []
    assert chunker.flush() == []


def test_flush_empties_the_buffer():
    chunker = SentenceChunker()
    chunker.push("Half a sent")
    assert chunker.flush() == ["Half a sent"]
    assert chunker.push("ence. Next") == ["ence."]


@pytest.mark.parametrize("split", ["words", "chars"])
def test_abbreviation_not_split_early(split):
    text = "Ask Dr. Smith about it. He knows."
    tokens = list(text) if split == "chars" else [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]
    chunker, released = stream(tokens)
    assert [out for _, out in released] == [["Ask Dr. Smith about it."]]
    assert chunker.flush() == ["He knows."]


def test_abbreviations_and_initialisms():
    chunker, released = stream(list("Mr. Jones met Dr. Smith in the U.S. today. Then he left."))
    assert [out for _, out in released] == [["Mr. Jones met Dr. Smith in the U.S. today."]]
    assert chunker.flush() == ["Then he left."]


def test_newline_followed_by_whitespace_in_one_push_keeps_lines_apart():
    # A push ending "\n " used to keep the finished line as the growing tail, so it merged with the next
    # line ("- milk - eggs").
    chunker = SentenceChunker()
    assert chunker.push("- milk\n ") == ["- milk"]
    assert chunker.push(" - eggs\n") == ["- eggs"]
    assert chunker.flush() == []


def test_line_without_a_full_stop_followed_by_indented_text():
    chunker = SentenceChunker()
    assert chunker.push("Buy milk\n ") == ["Buy milk"]
    assert chunker.push(" then eggs.") == []
    assert chunker.flush() == ["then eggs."]


# --- the first clause alone -------------------------------------------------------------------------------


def word_by_word(chunker, text):
    out = []
    for word in text.split(" "):
        out += chunker.push(word + " ")
    return out + chunker.flush()


def test_first_clause_of_enough_words_is_spoken_at_its_comma():
    chunker = SentenceChunker(first_chunk_words=4)
    pieces = word_by_word(chunker, "In the spring of next year, Kyoto is lovely. Tokyo too, of course.")
    assert pieces == ["In the spring of next year,", "Kyoto is lovely.", "Tokyo too, of course."]


def test_short_first_clause_waits_for_the_sentence():
    chunker = SentenceChunker(first_chunk_words=4)
    assert word_by_word(chunker, "Yes, it is. Paris, of course, is lovely.") == ["Yes, it is.", "Paris, of course, is lovely."]


def test_first_clause_only_before_anything_else_and_never_inside_numbers():
    chunker = SentenceChunker(first_chunk_words=2)
    assert word_by_word(chunker, "It costs 1,000 dollars. Then, later on, more.") == ["It costs 1,000 dollars.",
                                                                               "Then, later on, more."]


def test_first_clause_off_by_default():
    assert word_by_word(SentenceChunker(), "In the spring of next year, Kyoto is lovely.") == [
        "In the spring of next year, Kyoto is lovely."]
