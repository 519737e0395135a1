"""Turn a stream of answer tokens into whole sentences, so speech can start after the first one."""

from __future__ import annotations

import re

from voice_livemind.livemind.segmenter import split_sentences

# Only worth asking the sentence splitter once the buffer holds a sentence end followed by more text.
_MAYBE_BOUNDARY = re.compile(r"[.!?:;]\s+\S|\n")


def _sentences(text: str) -> list[str]:
    return [s for line in text.split("\n") for s in split_sentences(line)]


class SentenceChunker:
    def __init__(self) -> None:
        self._buffer = ""

    def push(self, text: str) -> list[str]:
        """Add streamed text; return the sentences it completed (possibly none)."""
        self._buffer += text
        if not _MAYBE_BOUNDARY.search(self._buffer):
            return []
        pieces = _sentences(self._buffer)
        if not self._buffer.rpartition("\n")[2].strip():
            # Nothing but whitespace after the last newline: every line is complete.
            self._buffer = ""
            return pieces
        # The last piece may still be growing; keep it (and a trailing space) for the next push.
        self._buffer = pieces[-1] + (" " if self._buffer[-1].isspace() else "")
        return pieces[:-1]

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer, ""
        return _sentences(rest)
