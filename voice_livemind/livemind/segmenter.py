"""Split the text heard so far into segments; only closed segments may be reasoned about.

The last segment may still be growing (the speaker is mid-sentence), so it is held back until the next
segment starts or the input ends.
"""

from __future__ import annotations

import re
from functools import lru_cache

# A comma followed by whitespace ends a clause; "1,000" has no space after its comma and stays whole.
_CLAUSE_BREAK = re.compile(r"(?<=,)\s+")


@lru_cache(maxsize=1)
def _sentence_splitter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def split_sentences(text: str) -> list[str]:
    if not text.strip():
        return []
    return [s.strip() for s in _sentence_splitter().segment(text) if s.strip()]


def split_clauses(sentence: str) -> list[str]:
    return [c.strip() for c in _CLAUSE_BREAK.split(sentence) if c.strip()]


def merge_short(pieces: list[str], min_chars: int, final: bool = True) -> list[str]:
    """Glue pieces shorter than `min_chars` to the following one.

    A short piece at the very end has no follower: before the input ends it stays open (not closed);
    once the input has ended it stands as a segment of its own. It never joins the previous segment, so
    the segments of a growing text only ever grow at the end and notes about earlier segments stay valid.
    """
    merged: list[str] = []
    carry = ""
    for piece in pieces:
        piece = f"{carry} {piece}".strip() if carry else piece
        if len(piece) < min_chars:
            carry = piece
        else:
            merged.append(piece)
            carry = ""
    if carry and final:
        merged.append(carry)
    return merged


def _pieces(text: str, granularity: str) -> list[str]:
    if granularity == "word":
        return text.split()
    pieces = split_sentences(text)
    if granularity == "clause":
        return [clause for sentence in pieces for clause in split_clauses(sentence)]
    if granularity != "sentence":
        raise ValueError(f"unknown granularity {granularity!r}")
    return pieces


def segment(text: str, granularity: str = "sentence", min_chars: int = 10) -> list[str]:
    """All segments of a complete text."""
    return merge_short(_pieces(text, granularity), min_chars)


def closed_segments(text: str, granularity: str = "sentence", min_chars: int = 10, final: bool = False,
                    breaks: tuple[int, ...] = ()) -> list[str]:
    """Segments that can no longer change: the last piece is held back until the input has ended.

    `breaks`: places where the speaker paused, as counts of the text's words (whitespace-separated) before
    each pause. A pause ends a piece as a sentence end does (Whisper often drops the full stop of a sentence
    that the next one follows), and a piece that ends in a pause is closed: the speaker stopped there.
    """
    words = text.split()
    cuts = sorted({k for k in breaks if 0 < k <= len(words)})
    if not cuts:
        pieces = _pieces(text, granularity)
        ends_in_pause = False
    else:
        ends_in_pause = cuts[-1] == len(words)
        pieces, start = [], 0
        for k in cuts if ends_in_pause else [*cuts, len(words)]:
            pieces += _pieces(" ".join(words[start:k]), granularity)
            start = k
    if not final and not ends_in_pause:
        pieces = pieces[:-1]
    return merge_short(pieces, min_chars, final=final)
