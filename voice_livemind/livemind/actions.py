"""The reply format of the inference model: `action <name>. <content>`."""

from __future__ import annotations

import re
from dataclasses import dataclass

SIMPLIFIED = ("inference", "wait")
COMPLETE = ("background", "inference", "hypothesize", "wait")

_REPLY = re.compile(r"^\s*action\s*[:\-]?\s*([a-z]+)\s*[.:\-]?\s*(.*)$", re.IGNORECASE | re.DOTALL)


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
        return Action(name, content, True)
    return Action("inference", reply.strip(), False)
