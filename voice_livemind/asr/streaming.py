"""Streaming recognition of one turn by repeated re-transcription of a growing audio buffer.

The pipeline drives it (`append`, `due`, `take_pass`, `apply_pass`, `finish`) and owns time and threads:
this class only decides what audio and prompt each pass sees and what is committed. A pass is taken on the
scheduler's thread (a copy of the buffer and the prompt), recognised on the recognition lane while more
audio is appended, and applied back on the scheduler's thread; `step` does all three at once. The two costs that made
the reference implementation fall behind on two cores are bounded here: the buffer is trimmed at
committed sentence ends, and the backend is asked for one pass per `interval_s` of new audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..config import ASRConfig
from .local_agreement import LocalAgreement
from .words import Word, join_words

HARD_TRIM_FACTOR = 2.0  # without a committed sentence end, trim at the last committed word past this


class ASRBackend(Protocol):
    def transcribe(self, audio: np.ndarray, prompt: str) -> list[Word]:
        """Recognise float32 mono 16 kHz `audio`; word times are relative to its first sample."""
        ...


@dataclass(frozen=True)
class PassRequest:
    """What one recognition pass hears: the buffer as it was when the pass was taken."""

    audio: np.ndarray
    prompt: str
    audio_t0: float  # input time of audio[0]
    heard_until: float  # input time of the end of `audio`


@dataclass(frozen=True)
class Transcript:
    stable: str  # committed text: will not change any more
    unstable: str  # the latest hypothesis beyond it: may still change
    words: tuple[Word, ...]  # the committed words, absolute times
    final: bool = False


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

    def take_pass(self) -> PassRequest:
        """The audio and prompt of the next pass: the whole buffer as it is now."""
        audio = self._audio().copy()
        self._new_samples = 0
        return PassRequest(audio, self.prompt(), self._buffer_t0, self._buffer_t0 + audio.shape[0] / self.sample_rate)

    def apply_pass(self, request: PassRequest, words: list[Word]) -> Transcript:
        """Take a pass's words (times relative to its audio): commits what the last n passes agree on."""
        self._agreement.insert([w.shifted(request.audio_t0) for w in words])
        self._heard_until = max(self._heard_until, request.heard_until)
        self._trim()
        return self.transcript()

    def recognise(self, request: PassRequest) -> list[Word]:
        """Run the backend on a pass (on any thread: it touches no state of this object)."""
        return self.backend.transcribe(request.audio, request.prompt)

    def step(self) -> Transcript:
        """One recognition pass over the whole buffer, here and now."""
        if self._samples() == 0:
            return self.transcript()
        request = self.take_pass()
        return self.apply_pass(request, self.recognise(request))

    def finish(self, hear_rest: bool = True) -> Transcript:
        """End of utterance: recognise whatever audio the last pass has not seen and commit everything,
        so the tail of the utterance is never dropped. `hear_rest=False` when the caller knows that audio is
        only the trailing silence (or has just applied the pass that heard it): the last pass's hypothesis
        is committed as it is."""
        if hear_rest and self._new_samples > 0:
            self.step()
        self._agreement.flush()
        return self.transcript(final=True)

    def final_text(self) -> str:
        """What `finish(hear_rest=False)` would commit now: the committed text and the last hypothesis."""
        return join_words([*self._agreement.committed, *self._agreement.unstable])

    def transcript(self, final: bool = False) -> Transcript:
        committed = self._agreement.committed
        return Transcript(join_words(committed), join_words(self._agreement.unstable), tuple(committed), final)

    def prompt(self) -> str:
        """Committed text that precedes the buffer, at most `prompt_chars` long. Words still inside the
        buffer are left out: Whisper would hear them again right after reading them."""
        before = [w for w in self._agreement.committed if w.end <= self._buffer_t0 + 1.0 / self.sample_rate]
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
