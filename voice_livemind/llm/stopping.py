"""When to stop generating, decided on plain token ids and text (no torch), so it is unit-testable.

Small models fall into loops ("the the the", or a whole sentence over and over) and then run to the token
cap; a guard that stops a loop early keeps a bad answer from also being a slow one. The same guard runs
in every mode, so no mode gets an advantage from it.
"""

from __future__ import annotations

import re

# The paper's answer pattern for multiple-choice questions: the first match is the prediction.
ANSWER_PATTERN = re.compile(r"answer is \(?([A-J])\)?")


def repeating_tail(ids: list[int], min_block: int = 1, max_block: int = 24, times: int = 4) -> bool:
    """True when the sequence ends in one block of tokens repeated `times` times in a row.

    Blocks of one token need more repeats to count (a run of "=" is not necessarily a loop), so the
    required repeats grow for the shortest blocks.
    """
    for block in range(min_block, max_block + 1):
        needed = max(times, 8 // block)
        span = block * needed
        if len(ids) < span:
            break
        tail = ids[-span:]
        pattern = tail[:block]
        if all(tail[i] == pattern[i % block] for i in range(span)):
            return True
    return False


# Stop only once the letter is visibly complete: "answer is (C)" or "answer is C." but not "answer is Also".
_ANSWER_STATED = re.compile(r"answer is \(?[A-J](\)|[^A-Za-z0-9])")


def answer_stated(text: str) -> bool:
    return _ANSWER_STATED.search(text) is not None


def extract_answer(text: str) -> str | None:
    match = ANSWER_PATTERN.search(text)
    return match.group(1) if match else None
