"""Audio on its way into the pipeline, made safe: non-finite samples replaced by silence and reported.

Every frame of every source (a file, the microphone, a server client) passes `InputGuard.clean` in the
scheduler's loop before anything reads it. A broken sample (NaN, +inf, -inf: a faulty driver, a client's
float stream, a corrupt float file) becomes 0 and out-of-range floats are clipped to [-1, 1], so one bad
sample cannot blank a recognition pass and lose the turn. The bad samples are counted per stretch (bad
samples less than `gap_s` apart belong to one stretch) and each stretch is reported once, when it is over.
"""

from __future__ import annotations

from dataclasses import dataclass

from voice_livemind.audio.pcm import finite_in_range
from voice_livemind.audio.source import AudioFrame


@dataclass(frozen=True)
class BadStretch:
    start: float  # input time of the first non-finite sample, seconds
    end: float  # input time just after the last one
    samples: int  # how many were non-finite (each replaced by 0)


class InputGuard:
    def __init__(self, sample_rate: int = 16000, gap_s: float = 1.0):
        self._rate = sample_rate
        self._gap_s = gap_s
        self._open: BadStretch | None = None
        self.total = 0  # non-finite samples replaced so far

    def clean(self, frame: AudioFrame) -> tuple[AudioFrame, BadStretch | None]:
        """The frame with safe samples (the same frame when nothing changed), and a stretch of bad samples
        that is over (at most `gap_s` of clean audio has followed it), to be reported now."""
        samples, bad = finite_in_range(frame.samples)
        done = None
        if bad.size:
            self.total += bad.size
            start, end = frame.t + bad[0] / self._rate, frame.t + (bad[-1] + 1) / self._rate
            if self._open is not None and start - self._open.end >= self._gap_s:
                done, self._open = self._open, None
            if self._open is None:
                self._open = BadStretch(start, end, int(bad.size))
            else:
                self._open = BadStretch(self._open.start, end, self._open.samples + int(bad.size))
        elif self._open is not None and frame.t + samples.shape[0] / self._rate - self._open.end >= self._gap_s:
            done, self._open = self._open, None
        return (frame if samples is frame.samples else AudioFrame(frame.t, samples)), done

    def flush(self) -> BadStretch | None:
        """The input has ended: the stretch still open, if any."""
        done, self._open = self._open, None
        return done
