"""Barge-in: speech heard while the assistant answers is a candidate until it has lasted long enough."""

from __future__ import annotations

from dataclasses import dataclass

from voice_livemind.audio.source import AudioFrame


@dataclass
class Candidate:
    """Speech heard while the assistant answers: a barge-in once it has lasted long enough."""

    audio_t: float  # where it started in the input
    frames: list[AudioFrame]  # its audio so far, the pre-roll included: the new turn's first audio
    run: int  # speech frames in the current run (gaps of up to MAX_GAP_FRAMES do not break it)
    longest: int = 0  # the longest run so far
    gap: int = 0  # non-speech frames since the last speech frame
    detected_audio_t: float | None = None  # set once confirmed as a barge-in

    MAX_GAP_FRAMES = 3  # ~90 ms: a VAD dropout inside a word, not a pause between two coughs

    @property
    def confirmed(self) -> bool:
        return self.detected_audio_t is not None

    def push(self, speech: bool) -> None:
        if speech:
            self.run, self.gap = (1 if self.gap > self.MAX_GAP_FRAMES else self.run + 1), 0
            self.longest = max(self.longest, self.run)
        else:
            self.gap += 1
