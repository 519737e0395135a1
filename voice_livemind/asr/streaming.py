"""Streaming recognition of one turn by repeated re-transcription of a growing audio buffer.

The pipeline drives it (`append`, `due`, `take_pass`, `apply_pass`, `finish`) and owns time and threads:
this class only decides what audio and prompt each pass sees and what is committed. A pass is taken on the
scheduler's thread (a copy of the buffer and the prompt), recognised on the recognition lane while more
audio is appended, and applied back on the scheduler's thread; `step` does all three at once. The two costs that made
the reference implementation fall behind on two cores are bounded here: the buffer is trimmed at
committed sentence ends, and the backend is asked for one pass per `interval_s` of new audio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..config import ASRConfig
from .local_agreement import LocalAgreement
from .whisper_backend import WHOLE_WINDOW_S
from .words import Word, join_words, words_of

HARD_TRIM_FACTOR = 2.0  # without a committed sentence end, trim at the last committed word past this
ECHO_WORDS = 6  # a pass that repeats this many words of its prompt in a row echoes the prompt ...
ECHO_SHORT = 4  # ... or this many when they are half of what it heard
STALL_PASSES = 4  # passes in a row that heard words but committed none: they no longer agree with each other


class ASRBackend(Protocol):
    def transcribe(self, audio: np.ndarray, prompt: str, window_s: float = WHOLE_WINDOW_S) -> list[Word]:
        """Recognise float32 mono 16 kHz `audio`; word times are relative to its first sample. `window_s`:
        how much of Whisper's 30 s window the encoder reads (a backend without that choice ignores it)."""
        ...


@dataclass(frozen=True)
class PassRequest:
    """What one recognition pass hears: the buffer as it was when the pass was taken."""

    audio: np.ndarray
    prompt: str
    audio_t0: float  # input time of audio[0]
    heard_until: float  # input time of the end of `audio`
    window_s: float = WHOLE_WINDOW_S  # the encoder window it is recognised with
    settles: bool = False  # taken once the speaker paused: its words are committed as they are (commit_in_pauses)
    guard: dict = field(default_factory=dict, compare=False)  # what `recognise` did: {"prompt_dropped": True}


@dataclass(frozen=True)
class Transcript:
    stable: str  # committed text: will not change any more
    unstable: str  # the latest hypothesis beyond it: may still change
    words: tuple[Word, ...]  # the committed words, absolute times
    final: bool = False
    unstable_words: tuple[Word, ...] = ()  # the words of `unstable`


class StreamingASR:
    def __init__(self, backend: ASRBackend, config: ASRConfig, sample_rate: int = 16000) -> None:
        self.backend = backend
        self.config = config
        self.sample_rate = sample_rate
        self.reset(0.0)

    def reset(self, audio_t0: float) -> None:
        """Start a new turn whose first appended sample is at `audio_t0` seconds of the input stream."""
        self._chunks: list[np.ndarray] = []
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_t0 = audio_t0  # input-stream time of the buffer's first sample
        self._new_samples = 0  # appended since the last pass was taken
        self._heard_until = audio_t0  # input time up to which the last applied pass heard the audio
        self._agreement = LocalAgreement(self.config.agreement_n)
        self._prompt_from = float("-inf")  # committed words that start before this are no longer a prompt
        self._stalled = 0  # passes in a row that heard words and committed none
        self.prompt_drops = 0  # times the committed text was dropped from the prompt this turn

    @property
    def buffer_t0(self) -> float:
        return self._buffer_t0

    @property
    def buffer_seconds(self) -> float:
        return self._samples() / self.sample_rate

    @property
    def pending_s(self) -> float:
        """Seconds of audio appended since the last pass was taken."""
        return self._new_samples / self.sample_rate

    @property
    def heard_until(self) -> float:
        """Input-stream time up to which the last applied recognition pass heard the audio."""
        return self._heard_until

    def append(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._chunks.append(samples)
        self._new_samples += samples.shape[0]

    def due(self) -> bool:
        """True once `interval_s` of audio arrived since the last pass."""
        return self._new_samples >= self.config.interval_s * self.sample_rate

    def take_pass(self, may_be_final: bool = False, settles: bool = False) -> PassRequest:
        """The audio and prompt of the next pass: the whole buffer as it is now. A pass that `may_be_final`
        (taken in a pause or after the end of the turn: its hypothesis may be committed as it is) gets
        `pause_window_s`; the others, whose words LocalAgreement filters, `encoder_window_s`. One that
        `settles` (taken once the speaker has paused long enough, `asr.pause_pass_ms`) commits its words
        when `asr.commit_in_pauses`."""
        audio = self._audio().copy()
        self._new_samples = 0
        window_s = self.config.pause_window_s if may_be_final or settles else self.config.encoder_window_s
        return PassRequest(audio, self.prompt(), self._buffer_t0, self._buffer_t0 + audio.shape[0] / self.sample_rate,
                           window_s, settles and self.config.commit_in_pauses)

    def apply_pass(self, request: PassRequest, words: list[Word]) -> Transcript:
        """Take a pass's words (times relative to its audio): commits what the last n passes agree on."""
        committed = self._agreement.insert([w.shifted(request.audio_t0) for w in words])
        if request.settles:
            committed += self._agreement.settle()
        self._heard_until = max(self._heard_until, request.heard_until)
        if self.config.commit_guard:
            self._stalled = self._stalled + 1 if words and not committed and request.prompt else 0
            if request.guard.get("prompt_dropped") or self._stalled >= STALL_PASSES:
                self._drop_prompt()
        self._trim()
        return self.transcript()

    def _drop_prompt(self) -> None:
        """The committed text may have set the passes on a wrong track: stop feeding it back (words
        committed from now on make the prompt again)."""
        self._prompt_from = self._agreement.committed_end
        self._stalled = 0
        self.prompt_drops += 1

    def recognise(self, request: PassRequest) -> list[Word]:
        """Run the backend on a pass (on any thread: it touches no state of this object but the request's
        `guard`). With `asr.commit_guard`, a pass that echoes its prompt, doubts some of its words or hears
        nothing at all is decoded again without the prompt, and the better of the two is kept. (Passes run
        while speech is heard: one that hears nothing lost its way, often led into a loop by a prompt of
        repetitive text, and the passes after it would do the same, at up to 2.7 s each.)"""
        words = self.backend.transcribe(request.audio, request.prompt, request.window_s)
        if not (self.config.commit_guard and request.prompt):
            return words
        echo = echoes_prompt(words, request.prompt)
        doubts = sum(w.doubtful for w in words)
        if words and not echo and not doubts:
            return words
        retry = self.backend.transcribe(request.audio, "", request.window_s)
        if ((not words and retry) or (echo and not echoes_prompt(retry, request.prompt))
                or sum(w.doubtful for w in retry) < doubts):
            request.guard["prompt_dropped"] = True
            return retry
        return words

    def step(self, may_be_final: bool = False) -> Transcript:
        """One recognition pass over the whole buffer, here and now."""
        if self._samples() == 0:
            return self.transcript()
        request = self.take_pass(may_be_final)
        return self.apply_pass(request, self.recognise(request))

    def finish(self, hear_rest: bool = True) -> Transcript:
        """End of utterance: recognise whatever audio the last pass has not seen and commit everything,
        so the tail of the utterance is never dropped. `hear_rest=False` when the caller knows that audio is
        only the trailing silence (or has just applied the pass that heard it): the last pass's hypothesis
        is committed as it is."""
        if hear_rest and self._new_samples > 0:
            self.step(may_be_final=True)
        self._agreement.flush()
        return self.transcript(final=True)

    def final_text(self) -> str:
        """What `finish(hear_rest=False)` would commit now: the committed text and the last hypothesis."""
        return join_words([*self._agreement.committed, *self._agreement.unstable])

    def transcript(self, final: bool = False) -> Transcript:
        committed = self._agreement.committed
        unstable = tuple(self._agreement.unstable)
        return Transcript(join_words(committed), join_words(unstable), tuple(committed), final, unstable)

    def prompt(self) -> str:
        """Committed text that precedes the buffer, at most `prompt_chars` long. Words still inside the
        buffer are left out: Whisper would hear them again right after reading them."""
        before = [w for w in self._agreement.committed
                  if w.end <= self._buffer_t0 + 1.0 / self.sample_rate and w.start >= self._prompt_from]
        text = join_words(before)
        limit = self.config.prompt_chars
        if limit <= 0:
            return ""
        if len(text) <= limit:
            return text
        cut = text[-limit:]
        return cut.split(" ", 1)[1] if " " in cut else cut  # do not start on half a word

    def _trim(self) -> None:
        """Keep the cost per pass bounded: once the buffer is longer than `buffer_trim_s`, drop the audio
        up to the end of the last committed sentence (or, past twice that, the last committed word)."""
        limit = self.config.buffer_trim_s
        seconds = self.buffer_seconds
        if seconds <= limit:
            return
        inside = [w for w in self._agreement.committed if w.end > self._buffer_t0]
        sentence_ends = [w.end for w in inside if w.ends_sentence]
        if sentence_ends:
            cut_at = sentence_ends[-1]
        elif inside and seconds > HARD_TRIM_FACTOR * limit:
            cut_at = inside[-1].end
        else:
            return
        drop = min(int(round((cut_at - self._buffer_t0) * self.sample_rate)), self._samples())
        if drop > 0:
            self._buffer = self._audio()[drop:]
            self._buffer_t0 += drop / self.sample_rate

    def _audio(self) -> np.ndarray:
        if self._chunks:
            self._buffer = np.concatenate([self._buffer, *self._chunks])
            self._chunks = []
        return self._buffer

    def _samples(self) -> int:
        return self._buffer.shape[0] + sum(c.shape[0] for c in self._chunks)


def echoes_prompt(words: list[Word], prompt: str) -> bool:
    """Whether a hypothesis repeats its prompt: ECHO_WORDS of the prompt's words in a row, or ECHO_SHORT
    when they are at least half of the hypothesis (Whisper, lost, reads its prompt back)."""
    heard = [piece for word in words for piece in words_of(word.text)]
    said = words_of(prompt)
    longest = 0
    for size in (ECHO_SHORT, ECHO_WORDS):
        grams = {said[i : i + size] for i in range(len(said) - size + 1)}
        if any(tuple(heard[i : i + size]) in grams for i in range(len(heard) - size + 1)):
            longest = size
    return longest >= ECHO_WORDS or (longest >= ECHO_SHORT and 2 * ECHO_SHORT >= len(heard))
