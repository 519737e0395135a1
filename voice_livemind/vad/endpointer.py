"""End-of-utterance detection: a small state machine over per-frame speech/non-speech decisions.

Speech starts after `speech_start_ms` of speech frames in a row (a click is not a turn) and ends after
`hangover_ms` of non-speech frames in a row (a pause inside a sentence is not the end of the turn).
The frame classifier is injected: webrtcvad in production, a scripted list in tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from voice_livemind.config import VADConfig


@dataclass(frozen=True)
class Boundary:
    kind: str  # "start" or "end"
    audio_t: float  # where in the input the speech started / ended
    reason: str = "vad"


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

    def __call__(self, samples: np.ndarray) -> bool:
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        speech = self._vad.is_speech(pcm, self._rate)
        if self._unsettled > 0:
            self._unsettled -= 1
            return False
        return speech


class Endpointer:
    def __init__(self, config: VADConfig, is_speech: Callable[[np.ndarray], bool]):
        self._is_speech = is_speech
        self._frame_s = config.frame_ms / 1000
        self._start_frames = max(1, math.ceil(config.speech_start_ms / config.frame_ms))  # at least that long
        self._end_frames = max(1, math.ceil(config.hangover_ms / config.frame_ms))
        self.in_speech = False
        self._run = 0  # frames in a row that argue for switching state
        self._run_start = 0.0  # where that run began
        self._last_speech_end = 0.0

    def push(self, t: float, samples: np.ndarray) -> Boundary | None:
        """Classify one frame starting at input time `t`; return a boundary when the state changes."""
        speech = self._is_speech(samples)
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
                self.in_speech, self._run = True, 0
                return Boundary("start", self._run_start)
            return None
        self._run = 0 if speech else self._run + 1
        if self._run >= self._end_frames:
            self.in_speech, self._run = False, 0
            return Boundary("end", self._last_speech_end)
        return None

    def end_of_input(self) -> Boundary | None:
        """The audio ran out: an utterance still open ends where its speech was last heard."""
        if not self.in_speech:
            return None
        self.in_speech, self._run = False, 0
        return Boundary("end", self._last_speech_end, reason="end_of_input")
