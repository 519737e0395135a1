"""LocalAgreement-n: split a stream of re-transcriptions into committed and unstable words.

Each recognition pass re-transcribes the whole audio buffer, so hypotheses overlap and later ones may
revise earlier guesses. A word is committed once the last n hypotheses agree on it (their longest common
prefix beyond what is already committed); committed words never change. This is the policy of
ufal/whisper_streaming's HypothesisBuffer, generalised to n hypotheses. Pure logic: no Whisper here.
"""

from __future__ import annotations

from collections import deque

from .words import Word, normalise

TIME_TOLERANCE_S = 0.1  # word timestamps jitter by this much between passes
MAX_OVERLAP_WORDS = 5
OVERLAP_WINDOW_S = 1.0  # only look for a repeated n-gram when the hypothesis starts near the commit point


class LocalAgreement:
    def __init__(self, n: int = 2) -> None:
        if n < 1:
            raise ValueError(f"LocalAgreement needs n >= 1, got {n}")
        self.n = n
        self._committed: list[Word] = []
        self._history: deque[list[Word]] = deque(maxlen=n)  # recent hypotheses, committed words removed

    @property
    def committed(self) -> list[Word]:
        return list(self._committed)

    @property
    def unstable(self) -> list[Word]:
        """The latest hypothesis beyond the committed words: may still change."""
        return list(self._history[-1]) if self._history else []

    @property
    def committed_end(self) -> float:
        return self._committed[-1].end if self._committed else float("-inf")

    def insert(self, hypothesis: list[Word]) -> list[Word]:
        """Take a new hypothesis (absolute times); return the words it newly commits."""
        self._history.append(self._new_part(hypothesis))
        if len(self._history) < self.n:
            return []
        count = _common_prefix_len(list(self._history))
        # A doubtful word (a likely hallucination, see Word.doubtful) is not committed, nor anything after
        # it, however many passes agree on it: it stays unstable until the end of the turn.
        count = min([count, *(_undoubted(h) for h in self._history)])
        return self._commit(count)

    def settle(self) -> list[Word]:
        """Commit the latest hypothesis up to its first doubtful word, without waiting for agreement (a pass
        that heard the speaker stop); the older hypotheses, which may disagree with it, are dropped."""
        if not self._history:
            return []
        latest = self._history[-1]
        count = _undoubted(latest)
        self._committed.extend(latest[:count])
        self._history.clear()
        self._history.append(latest[count:])
        return latest[:count]

    def flush(self) -> list[Word]:
        """Commit the whole latest hypothesis (end of utterance) and return the newly committed words."""
        words = self._commit(len(self._history[-1])) if self._history else []
        self._history.clear()
        return words

    def _commit(self, count: int) -> list[Word]:
        """Commit the first `count` words of the latest hypothesis; every hypothesis in the history agrees
        on them, so they are removed from all of them."""
        if count == 0:
            return []
        words = self._history[-1][:count]
        self._committed.extend(words)
        for i, hyp in enumerate(self._history):
            self._history[i] = hyp[count:]
        return words

    def _new_part(self, hypothesis: list[Word]) -> list[Word]:
        """The part of a hypothesis beyond the committed words: words that start before the last commit
        are dropped, then an n-gram the committed tail and the hypothesis head share is removed (Whisper
        re-emits a word that straddles the cut with a slightly later start)."""
        limit = self.committed_end - TIME_TOLERANCE_S
        new = [w for w in hypothesis if w.start > limit]
        if not new or not self._committed or abs(new[0].start - self.committed_end) >= OVERLAP_WINDOW_S:
            return new
        for size in range(min(len(self._committed), len(new), MAX_OVERLAP_WORDS), 0, -1):
            tail = [normalise(w.text) for w in self._committed[-size:]]
            head = [normalise(w.text) for w in new[:size]]
            if tail == head:
                return new[size:]
        return new


def _undoubted(words: list[Word]) -> int:
    """How many words come before the first doubtful one (all of them if none is)."""
    return next((i for i, w in enumerate(words) if w.doubtful), len(words))


def _common_prefix_len(hypotheses: list[list[Word]]) -> int:
    count = 0
    for column in zip(*hypotheses):
        if len({normalise(w.text) for w in column}) != 1:
            break
        count += 1
    return count
