"""Option letters in a question's text or transcript: is it a lettered multiple-choice question, and which
letters may the answer start with?

Answer-first (the answer forced to start `answer.choice_prefix`, "The answer is (", then one option letter)
engages only when `option_letters` finds a list. Written questions are easy; spoken ones reach it through
Whisper, which writes the spoken letters in every way: "Option A, Venus", "A. Flat", "A628 bits",
"B-780 bits", "(C)", "answer be is", "choice K" for J, "B" for "D", or drops them. Two readings, the longer
wins:

- keyword slots: "Option A: ... Option B: ...", "Choice A, ...", "Answer A is ...": each repeat of the
  keyword is one option, whatever Whisper made of its letter ("answer is", "option 512 bits").
- letters: a standalone capital letter ("A. ", "B) ", "(C)", "D: ", "E, ", "F-1500", "G128"), or "a" before
  punctuation or a number; after the words "options", "choices", "answers" any standalone letter in either
  case ("options a ventral b dorsal"). Never a letter after a noun that names one ("vitamin A", "plan B").

Both keep one rule: at least three letters found in order from A (A itself may be lost), each at most one
letter after the previous one (one option lost), where a letter misheard as a sound-alike ("B" for "D", "t"
for "G") may stand in for the expected one, though not twice running and, among bare letters, not last.

Measured on real Whisper transcripts (tests/data/option_transcripts.json, by scripts/make_option_transcripts.py:
8 MMLU-Pro questions, 8 phrasings, 5 voices, packaged tiny.en): the whole letter range is found in 26 of 43
offline transcripts and 11 of 16 streamed ones (before this module: 8 and 4), answer-first engaging on 31 and
11 (before: 10 and 6), and on none of 13 open questions. The rest lost their letters in Whisper (written as
words, "Bee Beijing, See the rainbow", or dropped): tests/test_options.py lists each.
"""

from __future__ import annotations

import re

LETTERS = "ABCDEFGHIJ"

# Letters Whisper confuses with one another, read by a synthetic voice: the "ee" letters, the "ay" ones ...
_SOUND_ALIKE = ("BCDEGPTVZ", "AHJK", "FLMNSX", "IY", "QUW")
# ... and letters it writes as words.
_SPELLED = {"be": "B", "bee": "B", "see": "C", "sea": "C", "dee": "D", "ee": "E", "ef": "F", "eff": "F",
            "gee": "G", "aitch": "H", "eye": "I", "jay": "J", "kay": "K"}

# One option per keyword: "Option A", "choice B", "answer C", and the word after it (its letter, if any).
_KEYWORD = re.compile(r"\b(option|choice|answer)s?\b[\s,:.;\-(]*([A-Za-z]+(?![A-Za-z]))?", re.IGNORECASE)
# After these words a list follows, and its letters may be written in either case.
_LIST_WORD = re.compile(r"\b(?:option|choice|answer)s?\b", re.IGNORECASE)
# A standalone letter: no letter or apostrophe on either side ("C3", "-A-", "(B)", "F.R." count; "SHA", "I'm" not).
_LETTER = re.compile(r"(?<![A-Za-z'’])([A-Za-z])(?![A-Za-z'’])")
# Whisper often writes a spoken "A" as the article: "a 628 bits", "a. Flat" (punctuation or a number after it).
_ARTICLE_AS_A = re.compile(r"[.:,)\-]|\s*\d")
# Letters that a noun names ("vitamin A", "vitamins A, B and C", "plan B") or an article ("a B in physics";
# not "A", which may be the option: "G: N/A H: ...").
_NAMES_A_LETTER = re.compile(
    r"\b(?:vitamins?|plans?|grades?|types?|class|classes|groups?|hepatitis|sections?|parts?|rows?|columns?|"
    r"gates?|exits?|sizes?|levels?|category|categories|blood|platforms?|terminals?|zones?|tiers?|phases?|"
    r"blocks?|wings?|units?|buildings?|floors?|models?|series)(?:[\s,]+(?:and|or|[A-J])\b)*[\s,]*$",
    re.IGNORECASE)
_ARTICLE = re.compile(r"\b(?:a|an|An|the|The)[ \t]+$")


def option_letters(text: str) -> str:
    """The letters of a lettered option list in `text` ("ABCD..."), or "" if there is none."""
    best = max(_keyword_slots(text), _bare_letters(text))
    return LETTERS[: best + 1] if best >= 0 else ""


def answer_start(text: str, choice_prefix: str) -> tuple[str, tuple[str, ...]]:
    """How the output model's reply must begin: answer first for a question with lettered options.

    Returns (prefix, first-token choices): e.g. ("The answer is (", ("A", ..., "J")), or ("", ()) when the
    question has no options or the config turns this off.
    """
    letters = option_letters(text)
    if not choice_prefix or not letters:
        return "", ()
    return choice_prefix, tuple(letters)


def answer_first_engaged(text: str, choice_prefix: str) -> bool:
    """Whether the answer to `text` (a transcript or written question) starts with a constrained option
    letter, for benchmark tables to count ("answer-first engaged on N of M questions")."""
    return bool(answer_start(text, choice_prefix)[0])


def _sound_alike(found: str, expected: str) -> bool:
    return found != expected and any(found in group and expected in group for group in _SOUND_ALIKE)


def _keyword_slots(text: str) -> int:
    """Index of the last option letter read from keyword slots, or -1."""
    best = -1
    for stem in ("option", "choice", "answer"):
        slots = []
        for match in _KEYWORD.finditer(text):
            if match.group(1).lower() == stem:
                word = (match.group(2) or "").lower()
                slots.append(word.upper() if len(word) == 1 else _SPELLED.get(word))
        if len(slots) >= 3:
            best = max(best, _align(slots, keyword=True))
    return best


def _bare_letters(text: str) -> int:
    """Index of the last option letter read from standalone letters, or -1."""
    first_list_word = _LIST_WORD.search(text)
    loose_from = first_list_word.end() if first_list_word else len(text)
    letters = []
    for match in _LETTER.finditer(text):
        letter, at = match.group(1), match.start()
        before = text[max(0, at - 60) : at]
        if letter.isupper() and (_NAMES_A_LETTER.search(before) or _ARTICLE.search(before)):
            continue
        if at >= loose_from or letter.isupper() or (letter == "a" and _ARTICLE_AS_A.match(text, at + 1)):
            letters.append(letter.upper())
    return _align(letters, keyword=False)


def _step_ok(step: int, exact: bool, alike: bool, keyword: bool) -> bool:
    """The next option, or the one after when an option was lost: only onto an exact letter, or onto a
    sound-alike among bare letters (where an exact one must still follow)."""
    return step == 1 or (step == 2 and (exact or (alike and not keyword)))


def _align(found: list[str | None], keyword: bool) -> int:
    """The furthest option index that `found` (letters in text order; None: a keyword slot with no letter)
    reaches under the rule in the module docstring, or -1.

    Keyword slots are consecutive options: every slot takes the next index (or the one after), whatever its
    letter; a run of them may start at any slot and needs two exact letters and three counting a
    sound-alike as half. Bare letters may be skipped (stray letters: "I", the article); those kept are
    exact or sound-alike, and three must be exact.
    """
    # state: (index reached, last one a sound-alike) -> (exact, sound-alike) counts of the best path to it
    states: dict[tuple[int, bool], tuple[int, int]] = {}
    best = -1
    for letter in found:
        new: dict[tuple[int, bool], tuple[int, int]] = {} if keyword else dict(states)
        for index, expected in enumerate(LETTERS):
            exact = letter == expected
            alike = letter is not None and _sound_alike(letter, expected) and (keyword or letter not in "AI")
            if not (exact or alike or keyword):
                continue
            starts = [(0, 0)] if index <= 1 else []
            before = [counts for (prev, prev_alike), counts in states.items()
                      if _step_ok(index - prev, exact, alike, keyword) and (keyword or exact or not prev_alike)]
            if not starts + before:
                continue
            e, a = max(starts + before, key=lambda c: (c[0] + c[1] / 2, c[0]))
            counts = (e + exact, a + (alike and not exact))
            key = (index, alike and not exact)
            if key not in new or (counts[0] + counts[1] / 2, counts[0]) > (new[key][0] + new[key][1] / 2, new[key][0]):
                new[key] = counts
            e, a = counts
            if keyword and letter is not None and e >= 2 and e + a / 2 >= 3:
                best = max(best, index)
            if not keyword and exact and e >= 3:
                best = max(best, index)
        states = new
    return best
