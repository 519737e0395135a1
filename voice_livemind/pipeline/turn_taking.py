"""Turn-taking: where each audio frame goes and what the VAD's boundaries mean for the conversation.

A frame goes to the turn's recognition buffer while the user has the floor, to a barge-in candidate while
the assistant is speaking, or to the pre-roll otherwise. `feed` returns what was decided, in order; the
scheduler acts on it (a stage's output, not a call back into the scheduler).
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
from voice_livemind.vad.endpointer import Boundary, BoundaryKind, Endpointer


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

    def end_of_input(self, speaking: bool) -> list[Decided]:
        """The audio ran out: an utterance still open ends where its speech was last heard."""
        boundary = self.endpointer.end_of_input()
        return [] if boundary is None else self._on_boundary(boundary, speaking)

    def release_queued(self) -> list[Decided]:
        """Barge-in off: once the assistant is silent, the utterance said over it is the next turn."""
        candidate, self.queued = self.queued, None
        return [Decided(Decision.START_TURN, candidate.audio_t, candidate.frames),
                Decided(Decision.END_TURN, boundary=self._queued_end)]

    def _on_boundary(self, boundary: Boundary, speaking: bool) -> list[Decided]:
        if boundary.kind is BoundaryKind.START:
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
