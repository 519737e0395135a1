"""The reply format of the inference model: `action <name>. <content>`."""

from __future__ import annotations

import re
from dataclasses import dataclass

SIMPLIFIED = ("inference", "wait")
COMPLETE = ("background", "inference", "hypothesize", "wait")

_REPLY = re.compile(r"^\s*action\s*[:\-]?\s*([a-z]+)\s*[.:\-]?\s*(.*)$", re.IGNORECASE | re.DOTALL)
# A sentence ends at a full stop, question or exclamation mark (and closing quotes or brackets) followed by
# a space: "3.5" and "e.g.," do not end one.
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s)")


def action_set(name: str) -> tuple[str, ...]:
    return {"simplified": SIMPLIFIED, "complete": COMPLETE}[name]


@dataclass(frozen=True)
class Action:
    name: str
    content: str
    parsed: bool  # False: the reply did not follow the format and is kept whole as an inference


def parse_reply(reply: str, allowed: tuple[str, ...] = SIMPLIFIED) -> Action:
    match = _REPLY.match(reply)
    if match and match.group(1).lower() in allowed:
        name = match.group(1).lower()
        content = "" if name == "wait" else match.group(2).strip()
        nested = _REPLY.match(content)
        if nested and nested.group(1).lower() in allowed:
            return parse_reply(content, allowed)  # "action inference. action wait.": the model's second thought
        return Action(name, content, True)
    return Action("inference", reply.strip(), False)


def first_sentences(text: str, n: int) -> str | None:
    """The first `n` sentences of `text` once that many have ended (a space after the last one's end has
    been written), else None."""
    ends = [match.end() for match in _SENTENCE_END.finditer(text)]
    return text[: ends[n - 1]] if n > 0 and len(ends) >= n else None


def reply_complete(reply: str, allowed: tuple[str, ...], sentences: int) -> bool:
    """Whether a note's reply so far is whole: it says "action wait", or its note has `sentences` sentences
    (0: never; the token cap or the line end stops it)."""
    action = parse_reply(reply, allowed)
    if not action.parsed:
        return False
    return action.name == "wait" or first_sentences(action.content, sentences) is not None
