"""End-of-utterance detection: a small state machine over per-frame speech/non-speech decisions.

Speech starts after `speech_start_ms` of speech frames in a row (a click is not a turn) and ends after
`hangover_ms` of non-speech frames in a row (a pause inside a sentence is not the end of the turn).
The frame classifier is injected: webrtcvad in production (confirmed by Silero VAD with `vad.confirm:
silero`), a scripted list in tests.

With an end-of-turn model (`vad.end_model: smart_turn`, `end_model=True`) the silence alone no longer
decides: once a pause has lasted `min_silence_ms` the endpointer asks a `Question` (the caller runs the
model on the audio heard so far and hands back its `verdict`); p(complete) >= `end_threshold` ends the
turn at once, otherwise the pause ends it only after `max_silence_ms` (with `end_model_every_ms` the model
is asked again at that interval meanwhile). A verdict that comes back after the user went on is ignored
(it belongs to a pause that is over).

Two refinements:
- A classifier may declare an `overhang_ms`: webrtcvad keeps calling frames speech for 60-150 ms after
  speech stops (its own overhang). Those frames are silence already, so they count towards the hangover
  and the estimated end of speech is moved back by them; otherwise every end would come that much late.
- Optional transcript hold (`transcript_hold_ms` > 0): while the latest transcript sounds unfinished (no
  sentence punctuation at its end, or a trailing "and", "to", "the" ...), the hangover is that much longer.
- A question heard (`question_end_ms` > 0, with the end model): when the latest transcript ends in a
  question mark, that much silence ends the turn whatever the model said (reason "question"). smart-turn
  hears prosody and says "not finished" at most ends of synthetic speech; Whisper's "?" does not depend on
  the voice.
"""

from __future__ import annotations

import enum

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from voice_livemind.asr.words import CLOSING_MARKS, normalise
from voice_livemind.audio.pcm import to_pcm16
from voice_livemind.config import VADConfig

# webrtcvad's overhang after a long speech burst (kOverHangMax2* in its vad_core.c), in frames, per mode
# and frame size (10, 20, 30 ms): modes 0-1 keep 140/140/150 ms, modes 2-3 90/100/90 ms.
_WEBRTC_OVERHANG_FRAMES = {0: (14, 7, 5), 1: (14, 7, 5), 2: (9, 5, 3), 3: (9, 5, 3)}

# Words after which a sentence rarely ends: a transcript ending in one of them sounds unfinished.
CONTINUATION_WORDS = frozenset(
    "and or but so because if then than that which who whose whom where when while although though unless "
    "until as like with without to of for from in on at by about into onto over under after before between "
    "through during against the a an my your his her its our their this these those some any no every each "
    "is are was were be been am will would can could should shall may might must do does did have has had "
    "i you he she we they it's i'm not very more most".split()
)
_UNFINISHED_ENDINGS = (",", ";", ":", "-", "...", "…")


def sounds_unfinished(text: str) -> bool:
    """True when the transcript so far does not sound like a finished turn: it ends in a comma, dash or
    ellipsis, without sentence punctuation, or in a word such as "and" / "to" / "the" followed by at most
    a period (Whisper puts one wherever its audio stops). "?" and "!" end a turn. Empty text: False."""
    text = text.strip().rstrip(CLOSING_MARKS)
    words = [w for w in text.split() if normalise(w)]
    if not words:
        return False
    if text.endswith(_UNFINISHED_ENDINGS):
        return True
    if text.endswith(("?", "!")):
        return False
    return not text.endswith(".") or normalise(words[-1]) in CONTINUATION_WORDS


def ends_question(text: str) -> bool:
    """Whisper ended the transcript with a question mark: the user asked something and stopped there."""
    return text.strip().rstrip(CLOSING_MARKS).endswith("?")


class BoundaryKind(str, enum.Enum):
    START = "start"  # speech started
    END = "end"  # speech ended


@dataclass(frozen=True)
class Boundary:
    kind: BoundaryKind
    audio_t: float  # where in the input the speech started / ended
    # END: "vad" (hangover_ms of silence), "end_model" (the model said finished), "max_silence" (the model
    # said not finished, or did not answer, and max_silence_ms passed), "question" (question_end_ms of silence
    # after a transcript ending in "?"), "end_of_input", "no_words"
    reason: str = "vad"


@dataclass(frozen=True)
class Question:
    """Ask the end-of-turn model about the audio heard up to input time `audio_t`, in pause number `pause`."""
    pause: int
    audio_t: float


class WebRtcClassifier:
    """webrtcvad on 16 kHz float frames.

    A fresh webrtcvad.Vad calls its first few frames of faint noise speech while its noise estimate
    settles (feeding it digital silence first does not help), so its first `settle_ms` of decisions are
    discarded. Nothing is lost: the pipeline keeps a pre-roll of audio from before the detected start.
    """

    def __init__(self, aggressiveness: int, frame_ms: int, sample_rate: int = 16000, settle_ms: int = 150):
        import webrtcvad

        self._vad = webrtcvad.Vad(aggressiveness)
        self._rate = sample_rate
        self._unsettled = math.ceil(settle_ms / frame_ms)
        self.overhang_ms = _WEBRTC_OVERHANG_FRAMES[aggressiveness][(10, 20, 30).index(frame_ms)] * frame_ms

    def __call__(self, samples: np.ndarray) -> bool:
        speech = self._vad.is_speech(to_pcm16(samples), self._rate)
        if self._unsettled > 0:
            self._unsettled -= 1
            return False
        return speech


class Endpointer:
    def __init__(self, config: VADConfig, is_speech: Callable[[np.ndarray], bool], end_model: bool = False):
        self._is_speech = is_speech
        self._frame_s = config.frame_ms / 1000
        self._start_frames = max(1, math.ceil(config.speech_start_ms / config.frame_ms))  # at least that long
        # end_model: a model answers Questions (the caller has one loaded and config.end_model names it)
        self.end_model = end_model
        silence_ms = config.max_silence_ms if end_model else config.hangover_ms
        hangover_frames = max(1, math.ceil(silence_ms / config.frame_ms))
        overhang = getattr(is_speech, "overhang_ms", 0) // config.frame_ms
        self._overhang_frames = min(overhang, hangover_frames - 1)  # already silence when the VAD stops
        self._end_frames = hangover_frames - self._overhang_frames
        self._silence_reason = "max_silence" if end_model else "vad"
        # the pause (overhang included, as in pause_s) after which the model is asked
        self._ask_frames = max(1, math.ceil(config.min_silence_ms / config.frame_ms) - self._overhang_frames)
        every_ms = getattr(config, "end_model_every_ms", 0)
        self._ask_every = math.ceil(every_ms / config.frame_ms) if every_ms > 0 else 0  # frames; 0: once
        self._threshold = config.end_threshold
        self._pauses = 0  # pauses begun inside turns so far: a question names its pause
        self.question: Question | None = None  # asked, not yet taken by the caller (take_question)
        self.last_p: float | None = None  # the last verdict's p(complete)
        self._hold_frames = math.ceil(getattr(config, "transcript_hold_ms", 0) / config.frame_ms)
        self.holding = False  # the transcript sounds unfinished: the hangover is longer
        question_ms = getattr(config, "question_end_ms", 0) if end_model else 0
        self._question_frames = (max(1, math.ceil(question_ms / config.frame_ms) - self._overhang_frames)
                                 if question_ms > 0 else 0)
        self.asked = False  # the latest transcript ends in a question mark
        self.in_speech = False
        self.last_speech = False  # the decision on the last frame pushed
        self._run = 0  # frames in a row that argue for switching state
        self._run_start = 0.0  # where that run began
        self._turn_start = 0.0
        self._last_speech_end = 0.0
        self.position = 0.0  # input time at the end of the last frame pushed: where a decision is taken

    @property
    def pause_s(self) -> float:
        """How long the current pause inside a turn has lasted (the VAD's overhang included); 0 while
        speech is heard or outside a turn."""
        if not self.in_speech or self._run == 0:
            return 0.0
        return (self._run + self._overhang_frames) * self._frame_s

    @property
    def speech_end(self) -> float:
        """Inside a turn: where its speech ended so far, the classifier's overhang removed (the frames it
        still calls speech after speech stops are silence)."""
        return self._speech_end()

    def observe_transcript(self, text: str) -> None:
        """The latest transcript of the turn (committed + unstable): hold the turn while it sounds
        unfinished, if `transcript_hold_ms` is set."""
        self.holding = self._hold_frames > 0 and sounds_unfinished(text)
        self.asked = self._question_frames > 0 and ends_question(text)

    def push(self, t: float, samples: np.ndarray, mute: bool = False) -> Boundary | None:
        """Classify one frame starting at input time `t`; return a boundary when the state changes.
        `mute`: the frame is still classified (the classifier keeps its state) but counts as non-speech."""
        speech = self._is_speech(samples) and not mute
        self.last_speech = speech
        self.position = t + self._frame_s
        if speech:
            self._last_speech_end = t + self._frame_s
        if not self.in_speech:
            if not speech:
                self._run = 0
                return None
            if self._run == 0:
                self._run_start = t
            self._run += 1
            if self._run >= self._start_frames:
                self.in_speech, self._run, self.holding, self.asked, self.question = True, 0, False, False, None
                self._turn_start = self._run_start
                return Boundary(BoundaryKind.START, self._run_start)
            return None
        self._run = 0 if speech else self._run + 1
        if self._run == 1:
            self._pauses += 1
        if self.end_model and self._asks_now():
            self.question = Question(self._pauses, self.position)
        if self.asked and self._run >= self._question_frames:
            return self._end("question")
        if self._run >= self._end_frames + (self._hold_frames if self.holding else 0):
            return self._end(self._silence_reason)
        return None

    def _asks_now(self) -> bool:
        """The pause has just reached min_silence_ms, or (end_model_every_ms) another interval after it."""
        since = self._run - self._ask_frames
        return since == 0 or (self._ask_every > 0 and since > 0 and since % self._ask_every == 0)

    def take_question(self) -> Question | None:
        """The question the end-of-turn model should answer now, if any (each is handed out once)."""
        question, self.question = self.question, None
        return question

    def verdict(self, question: Question, p_complete: float) -> Boundary | None:
        """The model's answer to `question`: the end of the turn if it sounds finished and the user is still
        silent in the same pause; None otherwise (the pause goes on to max_silence_ms)."""
        self.last_p = p_complete
        if (not self.in_speech or self._run == 0 or question.pause != self._pauses
                or p_complete < self._threshold):
            return None
        return self._end("end_model")

    def _end(self, reason: str) -> Boundary:
        self.in_speech, self._run, self.question = False, 0, None
        return Boundary(BoundaryKind.END, self._speech_end(), reason=reason)

    def end_of_input(self, reason: str = "end_of_input") -> Boundary | None:
        """The audio ran out (or the turn is ended for `reason`): an utterance still open ends where its
        speech was last heard."""
        if not self.in_speech:
            return None
        in_a_pause = self._run > 0
        self.in_speech, self._run, self.question = False, 0, None
        return Boundary(BoundaryKind.END, self._speech_end() if in_a_pause else self._last_speech_end, reason=reason)

    def _speech_end(self) -> float:
        """Where the speech ended: the last speech frame, less the classifier's overhang."""
        return max(self._turn_start, self._last_speech_end - self._overhang_frames * self._frame_s)
