"""Turn a stream of answer tokens into whole sentences, so speech can start after the first one."""

from __future__ import annotations

import re

from voice_livemind.livemind.segmenter import split_sentences

# Only worth asking the sentence splitter once the buffer holds a sentence end followed by more text.
_MAYBE_BOUNDARY = re.compile(r"[.!?:;]\s+\S|\n")


def _sentences(text: str) -> list[str]:
    return [s for line in text.split("\n") for s in split_sentences(line)]


# The first clause may be spoken on its own: it ends at a comma, semicolon or dash followed by more text.
_CLAUSE_END = re.compile(r"[,;:]\s+(?=\S)|\s[-–—]\s+(?=\S)")


class SentenceChunker:
    """Sentences out of streamed text; optionally the very first clause alone, so speech starts sooner."""

    def __init__(self, first_chunk_words: int = 0) -> None:
        self._buffer = ""
        self._first_chunk_words = first_chunk_words
        self._started = False  # has any piece been handed out yet?

    def push(self, text: str) -> list[str]:
        """Add streamed text; return the sentences (or first clause) it completed (possibly none)."""
        self._buffer += text
        pieces = self._first_clause()
        if pieces:
            return pieces
        if not _MAYBE_BOUNDARY.search(self._buffer):
            return []
        pieces = _sentences(self._buffer)
        if not self._buffer.rpartition("\n")[2].strip():
            # Nothing but whitespace after the last newline: every line is complete.
            self._buffer = ""
        else:
            # The last piece may still be growing; keep it (and a trailing space) for the next push.
            self._buffer = pieces[-1] + (" " if self._buffer[-1].isspace() else "")
            pieces = pieces[:-1]
        self._started = self._started or bool(pieces)
        return pieces

    def _first_clause(self) -> list[str]:
        if self._started or not self._first_chunk_words:
            return []
        for match in _CLAUSE_END.finditer(self._buffer):
            clause = self._buffer[: match.start() + 1].strip()
            if len(split_sentences(clause)) > 1:
                return []  # a sentence ended before the comma: the sentence rule applies
            if len(clause.split()) >= self._first_chunk_words:
                self._started = True
                self._buffer = self._buffer[match.end():]
                return [clause]
        return []

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer, ""
        return _sentences(rest)
