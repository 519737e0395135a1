"""Inference memory: what was already reasoned about, keyed by the segments it covered."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    segments: tuple[str, ...]  # the segments that were new when this entry was written
    action: str
    text: str  # the note ("" for wait)


class InferenceMemory:
    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def covered(self) -> int:
        return sum(len(e.segments) for e in self.entries)

    def align(self, segments: list[str]) -> int:
        """Keep the entries whose segments still prefix `segments`; drop the rest. Returns how many dropped.

        A mismatch means earlier text changed (ASR revised a word, or the segmenter re-split): every entry
        from the first mismatch on was written about text that no longer exists.
        """
        position = 0
        for index, entry in enumerate(self.entries):
            span = list(entry.segments)
            if segments[position : position + len(span)] != span:
                dropped = len(self.entries) - index
                del self.entries[index:]
                return dropped
            position += len(span)
        return 0

    def add(self, entry: Entry) -> None:
        self.entries.append(entry)

    def notes(self) -> list[str]:
        return [e.text for e in self.entries if e.action != "wait" and e.text]
