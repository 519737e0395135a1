"""Turn-taking: where each audio frame goes and what the VAD's boundaries mean for the conversation.

A frame goes to the turn's recognition buffer while the user has the floor, to a barge-in candidate while
the assistant is speaking, or to the pre-roll otherwise. `feed` returns what was decided, in order; the
scheduler acts on it (a stage's output, not a call back into the scheduler).

With an end-of-turn model the endpointer asks, in a pause, whether the turn sounds finished: `question`
hands the scheduler that question with the audio the model hears (the utterance so far, from its start
less the pre-roll, at most the last 8 s), and `verdict` turns the model's answer into decisions.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from voice_livemind.audio.source import AudioFrame
from voice_livemind.config import Config
from voice_livemind.pipeline.barge_in import Candidate
from voice_livemind.vad.endpointer import Boundary, BoundaryKind, Endpointer, Question

END_MODEL_WINDOW_S = 8.0  # smart-turn hears at most the last 8 s


class Decision(enum.Enum):
    START_TURN = "start_turn"  # the user takes the floor: `frames` are the turn's first audio
    END_TURN = "end_turn"  # the user's turn ended at `boundary`
    BARGE_IN = "barge_in"  # the user interrupts the assistant: `candidate` is the next turn
    IGNORED = "ignored"  # speech over the assistant too short to interrupt it (a cough, a click)


@dataclass(frozen=True)
class Decided:
    decision: Decision
    audio_t: float = 0.0
    frames: list[AudioFrame] = field(default_factory=list)
    boundary: Boundary | None = None
    candidate: Candidate | None = None


class TurnTaking:
    def __init__(self, config: Config, endpointer: Endpointer):
        self.endpointer = endpointer
        self.frame_ms = config.vad.frame_ms
        self.barge_in = config.barge_in
        self.preroll: deque[AudioFrame] = deque(maxlen=max(1, config.vad.preroll_ms // config.vad.frame_ms))
        self.start_frames = max(1, math.ceil(config.vad.speech_start_ms / config.vad.frame_ms))
        self.barge_frames = max(1, math.ceil(config.barge_in.min_speech_ms / config.vad.frame_ms))
        self.candidate: Candidate | None = None
        self.queued: Candidate | None = None  # barge-in off: an utterance said over the answer, with its end
        self._queued_end: Boundary | None = None
        self.preroll_s = config.vad.preroll_ms / 1000
        self._recent: deque[AudioFrame] = deque(maxlen=math.ceil(END_MODEL_WINDOW_S * 1000 / config.vad.frame_ms))
        self._utterance_t0 = 0.0  # where the end model's audio starts: the utterance's start less the pre-roll
        self._turn_t0 = 0.0  # the same for the turn before the latest start: a resumed turn goes back to it

    def feed(self, frame: AudioFrame, speaking: bool, playing: bool,
             to_turn: Callable[[np.ndarray], None]) -> tuple[list[Decided], bool]:
        """One frame. Returns (what was decided, whether it was speech inside the user's turn)."""
        decided: list[Decided] = []
        candidate = self.candidate
        if candidate is not None and not candidate.confirmed and not speaking:
            self.candidate = None  # the answer ended meanwhile: an ordinary new turn, with this frame
            candidate.frames.append(frame)
            decided.append(Decided(Decision.START_TURN, candidate.audio_t, candidate.frames))
            candidate = None
            in_turn = False
        else:
            in_turn = self.endpointer.in_speech and candidate is None
            if in_turn:
                to_turn(frame.samples)
            elif candidate is not None:
                candidate.frames.append(frame)
            else:
                self.preroll.append(frame)
        mute = self.barge_in.suppress_while_playing and not in_turn and playing
        if self.endpointer.end_model:
            self._recent.append(frame)
        boundary = self.endpointer.push(frame.t, frame.samples, mute=mute)
        if candidate is not None:
            candidate.push(self.endpointer.last_speech)
        if boundary is not None:
            decided += self._on_boundary(boundary, speaking)
        candidate = self.candidate
        if (candidate is not None and not candidate.confirmed and self.barge_in.enabled
                and candidate.run >= self.barge_frames):
            candidate.detected_audio_t = frame.t + frame.duration
            self.candidate = None
            decided.append(Decided(Decision.BARGE_IN, candidate.audio_t, candidate.frames, candidate=candidate))
        return decided, in_turn and self.endpointer.last_speech

    def end_of_input(self, speaking: bool, reason: str = "end_of_input") -> list[Decided]:
        """The audio ran out (or the turn is ended for `reason`, e.g. "no_words"): an utterance still open
        ends where its speech was last heard."""
        boundary = self.endpointer.end_of_input(reason)
        return [] if boundary is None else self._on_boundary(boundary, speaking)

    def question(self) -> tuple[Question, "np.ndarray"] | None:
        """The endpointer's question for the end-of-turn model, if it has one now, with the audio to hear."""
        question = self.endpointer.take_question()
        if question is None:
            return None
        frames = [f.samples for f in self._recent if f.t >= self._utterance_t0 - 1e-9]
        return question, (np.concatenate(frames) if frames else np.zeros(0, dtype=np.float32))

    def frames_since(self, t: float) -> list[AudioFrame] | None:
        """The frames heard from input time `t` on (a resumed turn takes back the audio since its end);
        None when they are no longer all kept (the last 8 s are, with an end model)."""
        frames = [f for f in self._recent if f.t >= t - 1e-6]
        if not self._recent or self._recent[0].t > t + 1e-6:
            return None
        return frames

    def resumed(self) -> None:
        """The speech that just started continues the turn the end model had ended: the end model hears the
        whole turn again, not only what was said since (alone, a second of speech after a pause sounded
        finished: p 0.92 where the whole turn gave 0.11, and the answer cut the user off)."""
        self._utterance_t0 = self._turn_t0

    def verdict(self, question: Question, p_complete: float, speaking: bool) -> list[Decided]:
        """The model's p(complete) for `question`: the end of the utterance when it sounds finished and the
        user is still silent in that pause."""
        boundary = self.endpointer.verdict(question, p_complete)
        return [] if boundary is None else self._on_boundary(boundary, speaking)

    def release_queued(self) -> list[Decided]:
        """Barge-in off: once the assistant is silent, the utterance said over it is the next turn."""
        candidate, self.queued = self.queued, None
        return [Decided(Decision.START_TURN, candidate.audio_t, candidate.frames),
                Decided(Decision.END_TURN, boundary=self._queued_end)]

    def _on_boundary(self, boundary: Boundary, speaking: bool) -> list[Decided]:
        if boundary.kind is BoundaryKind.START:
            self._turn_t0, self._utterance_t0 = self._utterance_t0, boundary.audio_t - self.preroll_s
            frames = list(self.preroll)
            self.preroll.clear()
            if speaking:
                self.candidate = Candidate(boundary.audio_t, frames, run=self.start_frames, longest=self.start_frames)
                return []
            return [Decided(Decision.START_TURN, boundary.audio_t, frames)]
        candidate, self.candidate = self.candidate, None
        if candidate is None:
            return [Decided(Decision.END_TURN, boundary=boundary)]
        if not self.barge_in.enabled:
            self.queued, self._queued_end = candidate, boundary  # half duplex: answered after the answer
            return []
        self.preroll.extend(candidate.frames)
        return [Decided(Decision.IGNORED, candidate.audio_t, candidate=candidate)]

    def speech_s(self, candidate: Candidate) -> float:
        return round(candidate.longest * self.frame_ms / 1000, 3)
