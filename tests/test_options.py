"""Option-letter detection (voice_livemind.livemind.options) on real Whisper transcripts and on ordinary speech.

The corpus, tests/data/option_transcripts.json, is made by scripts/make_option_transcripts.py: eight MMLU-Pro
questions read with their options in eight phrasings by five voices (Piper joe, espeak-ng en-us, en-gb,
en-us+f3, en-gb-scotland+m3), plus the two multiple-choice questions of the unseen set and the
mmlu_choice fixture, transcribed by the packaged tiny.en offline and (two voices) through StreamingASR.
"""

import json
from pathlib import Path

import pytest

from voice_livemind.livemind.options import answer_first_engaged, answer_start, option_letters

CORPUS = json.loads((Path(__file__).parent / "data" / "option_transcripts.json").read_text())
TRANSCRIPTS = [(item, kind) for item in CORPUS["items"] for kind in ("offline", "streaming") if kind in item]

# Transcripts that do not hold the whole option list: what is detected, and why not more. Whisper lost the
# letters (wrote them as words, merged them, dropped the options), so no reading of the text can recover them.
# An entry that starts being detected in full should move out of here.
LOST = {
    # id/kind: (detected, why)
    "options_colon/espeak-en-us+f3/offline": ("", "every letter after A written 'Wc'"),
    "options_colon/espeak-en-gb-scotland+m3/offline": ("", "no letter written at all"),
    "option_word/espeak-en-gb-scotland+m3/offline": ("", "'Option A'..'Option E' written 'Octione', no letter"),
    "letter_period/espeak-en-gb-scotland+m3/offline": ("", "no letter written at all"),
    "letter_paren/espeak-en-us/offline": ("", "B..E written 'the', 'See', 'the', 'the'"),
    "letter_paren/espeak-en-gb/offline": ("", "A dropped, B..E written 'Bee', 'Seabooda', 'Bee', 'Bee'"),
    "letter_paren/espeak-en-us+f3/offline": ("ABCDEFGHI", "J merged into 'jm out'"),
    "letter_paren/espeak-en-gb-scotland+m3/offline": ("", "letters written 'be', 'see', 'if'"),
    "paren_letter/piper-joe/offline": ("", "B..E written 'the', 'see', 'desur...', 'either'"),
    "paren_letter/espeak-en-gb/offline": ("", "A dropped, B..E written 'The', 'See', 'The', 'Just'"),
    "paren_letter/espeak-en-us+f3/offline": ("", "A..G written 'a', 'be', 'see', 'the', 'e-', 'f', 'De-'"),
    "paren_letter/espeak-en-gb-scotland+m3/offline": ("ABCDEFGH", "the transcript stops at H"),
    "answer_word/espeak-en-gb/offline": ("ABCDEFGH", "C merged ('secede'), I and J written 'is', 'jade's'"),
    "answer_word/espeak-en-us+f3/offline": ("ABCDEFG", "H, I, J dropped ('answer is')"),
    "answer_word/espeak-en-gb-scotland+m3/offline": ("", "'Answer A is' written 'and saucy and'"),
    "choices_are/espeak-en-us/offline": ("ABCDEFGHI", "H..J lost to a hallucinated ending ('G, I will be able')"),
    "choices_are/espeak-en-gb-scotland+m3/offline": ("", "the whole transcript is 'Stay for this.'"),
    "letter_period/espeak-en-gb/streaming": ("", "C..F written 'See?', 'The', 'Be', 'Be'"),
    "letter_paren/espeak-en-gb/streaming": ("", "A dropped, B..E written 'Bee', 'See', 'Bee', 'Bee'"),
    "paren_letter/piper-joe/streaming": ("", "B..E written 'the', 'See', 'De-', 'Be'"),
    "paren_letter/espeak-en-gb/streaming": ("", "A..E written 'Uh', 'Read', 'See', 'The', 'Just'"),
    "answer_word/espeak-en-gb/streaming": ("", "'answer A is' written 'and Sur...', no letter"),
}


def _key(item: dict, kind: str) -> str:
    return f"{item['id']}/{kind}"


@pytest.mark.parametrize("item, kind", [t for t in TRANSCRIPTS if _key(*t) not in LOST],
                         ids=[_key(*t) for t in TRANSCRIPTS if _key(*t) not in LOST])
def test_option_letters_of_real_transcripts(item, kind):
    assert option_letters(item[kind]) == item["letters"], item[kind]


@pytest.mark.parametrize("key", sorted(LOST))
def test_transcripts_where_whisper_lost_letters_are_the_documented_ones(key):
    detected, why = LOST[key]
    item_id, kind = key.rsplit("/", 1)
    item = next(i for i in CORPUS["items"] if i["id"] == item_id)
    assert option_letters(item[kind]) == detected != item["letters"], why


def test_how_often_the_whole_letter_range_is_found():
    # The whole letter range found: offline 26 of 43 transcripts (answer-first engaged on 31), streaming 11 of
    # 16 (engaged on 11); every transcript that holds its letters. Before this module (prompts.option_letters
    # before 310cad8: standalone letters, loose ones after the last "options"): offline 8 of 43 (engaged on 10),
    # streaming 4 of 16 (engaged on 6). Neither ever engaged on an open question.
    right = sum(option_letters(item[kind]) == item["letters"] for item, kind in TRANSCRIPTS)
    engaged = sum(answer_first_engaged(item[kind], "The answer is (") for item, kind in TRANSCRIPTS)
    assert (right, engaged, len(TRANSCRIPTS)) == (37, 42, 59)
    assert right == len(TRANSCRIPTS) - len(LOST)


@pytest.mark.parametrize("negative", CORPUS["negatives"], ids=[n["id"] for n in CORPUS["negatives"]])
def test_no_options_in_transcripts_of_open_questions(negative):
    for kind in ("offline", "streaming"):
        if kind in negative:
            assert option_letters(negative[kind]) == "", negative[kind]


@pytest.mark.parametrize("text", [
    "I have a question. A farmer has a field. I think Bob is right.",
    "I have a dog, a cat and a bird, and a friend who looks after them.",
    "Is it plan A or plan B? My plan A failed, so plan B and plan C are next.",
    "I need a vitamin A supplement. Is vitamin A, vitamin B or vitamin C best for colds?",
    "Vitamins A, B, C, D and E are all in this. Hepatitis A, B and C are different viruses.",
    "Eggs sold as grade A are fresher than grade B or grade C.",
    "I got an A in maths, a B in physics and a C in art.",
    "I'm at gate B, next to gate C and gate D.",
    "I have a cat, B is my dog and C is a bird.",
    "A. one. C. two. F. three.",  # too far apart for an option list
    "What are my options for a trip to Japan? I have a week, a car and a tent.",
    "Option one is to wait, option two is to leave, option three is to call.",  # numbered, not lettered
    "Which answer is right? I don't know the answer. The answer depends on a lot.",
    "The U.S. and the E.U. agreed on a plan at 8 a.m.",
])
def test_no_options_in_ordinary_speech(text):
    assert option_letters(text) == ""


@pytest.mark.parametrize("text, letters", [
    ("Which one?\nA. 0\nB. 30\nC. 3\nD. 10", "ABCD"),
    ("Q?\nOptions:\nA: x\nB: y\nC: z", "ABC"),
    ("Q?\n(A) x\n(B) y\n(C) z\n(D) w", "ABCD"),
    ("Q? A) x B) y C) z", "ABC"),
    ("Q? Option A: x. Option B: y. Option C: z. Option D: w.", "ABCD"),
    ("Q? Option (A) x. Option (B) y. Option (C) z.", "ABC"),
    ("Q? Choice A, x. Choice B, y. Choice C, z.", "ABC"),
    ("Q? Answer A is x. Answer B is y. Answer C is z.", "ABC"),
    ("Q? The choices are a, x; b, y; c, z.", "ABC"),
    ("Q? options a b c", "ABC"),
    ("Which option is right? Option A, x. Option B, y. Option C, z. Option D, w.", "ABCD"),
    # as Whisper writes spoken letters
    ("Quick quiz, option A, Venus, option B, Mercury, option C, Mars, option B Earth.", "ABCD"),  # D heard B
    ("Q? Answer is x. Answer be y. Answer is z. Answer be w. Answer is v. Answer f is u. Answer h is t.",
     "ABCDEFGH"),
    ("Q? A. Flat B. Bureaucratic C. Autocratic B. Hierarchical, functional F. Decentralized", "ABCDEF"),
])
def test_option_letters_in_each_phrasing(text, letters):
    assert option_letters(text) == letters


def test_answer_start_and_engaged():
    assert answer_start("Q?\nA. x\nB. y\nC. z", "The answer is (") == ("The answer is (", ("A", "B", "C"))
    assert answer_start("What is the capital of France?", "The answer is (") == ("", ())
    assert answer_start("Q?\nA. x\nB. y\nC. z", "") == ("", ())
    assert answer_first_engaged("Q? Option A: x. Option B: y. Option C: z.", "The answer is (")
    assert not answer_first_engaged("Q? Option A: x. Option B: y. Option C: z.", "")
    assert not answer_first_engaged("What is the capital of France?", "The answer is (")


def test_prompts_keeps_the_names_callers_use():
    from voice_livemind.livemind import prompts

    assert prompts.option_letters is option_letters and prompts.answer_start is answer_start


def test_every_written_question_of_the_shipped_split_in_three_layouts():
    from voice_livemind.audio.synth import multiple_choice_text
    from voice_livemind.bench.common import load_questions

    for q in load_questions(None):
        letters = "ABCDEFGHIJ"[: len(q.options)]
        numbered = list(zip(letters, q.options))
        for text in (multiple_choice_text(q.question, list(q.options)),  # "Options:\nA: ...", "G: N/A" padding
                     q.question + "\n" + "\n".join(f"{letter}. {o}" for letter, o in numbered),
                     q.question + " " + " ".join(f"({letter}) {o}" for letter, o in numbered)):
            assert option_letters(text) == letters, text
