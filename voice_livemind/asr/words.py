"""The unit every ASR stage exchanges: one recognised word with its place in the audio."""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass, field

_PUNCTUATION = str.maketrans("", "", string.punctuation + "“”‘’…¿¡")
SENTENCE_ENDS = (".", "?", "!")
CLOSING_MARKS = "\"')]”’"  # may follow a sentence's last punctuation ("He said 'no.'")


@dataclass(frozen=True)
class SegmentScore:
    """How sure Whisper was of the segment a word came from (faster-whisper's segment fields).
    `doubtful`: the backend judged the segment a likely hallucination (see asr.whisper_backend)."""

    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0
    doubtful: bool = False


@dataclass(frozen=True)
class Word:
    """A word as Whisper gives it.

    `start`/`end` are seconds on the input stream's timeline (the turn's `audio_t0` plus the position in
    the turn), so they stay valid when the audio buffer is trimmed. `text` keeps Whisper's spelling,
    punctuation and (usually) leading space. `score` (not compared) is its segment's, when the backend says.
    """

    start: float
    end: float
    text: str
    score: SegmentScore | None = field(default=None, compare=False, repr=False)

    def shifted(self, offset: float) -> Word:
        return Word(self.start + offset, self.end + offset, self.text, self.score)

    @property
    def doubtful(self) -> bool:
        return self.score is not None and self.score.doubtful

    @property
    def ends_sentence(self) -> bool:
        return self.text.rstrip().rstrip(CLOSING_MARKS).endswith(SENTENCE_ENDS)


def normalise(text: str) -> str:
    """Lowercase, punctuation and spaces stripped: the form in which two hypotheses are compared, so that
    'planks' and ' planks.' agree."""
    return text.translate(_PUNCTUATION).strip().lower()


def words_of(text: str) -> tuple[str, ...]:
    """The words of a text in normalised form; punctuation alone ("." on noise) has none."""
    return tuple(w for w in (normalise(piece) for piece in text.split()) if w)


def join_words(words: Iterable[Word]) -> str:
    """Readable text from words: single spaces between them, Whisper's punctuation kept.

    Whisper sometimes splits a number at its decimal point (" 37", ".67"): a piece that starts with no
    space and no letter or digit continues the previous word instead of starting a new one.
    """
    out = ""
    for word in words:
        text = word.text.strip()
        if not text:
            continue
        glue = out and not word.text[:1].isspace() and not text[0].isalnum()
        out += text if glue or not out else " " + text
    return out
