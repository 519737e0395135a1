"""Live audio input: a thread-safe, bounded frame queue fed by a microphone callback or a network client.

The producer (a sounddevice callback, a websocket handler) calls `push` with float32 16 kHz mono samples
of any length; the pipeline's lane takes whole frames with `ready` and idles in `wait`. Frames are
timestamped by sample count, from the clock time at which the first sample arrived, so audio time and
clock time share an origin exactly as in a replay (events and latencies read the same way).
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from voice_livemind.audio.source import AudioFrame


class LiveSource:
    """Implements `FrameSource` for audio that is still arriving.

    Bounded: when more than `max_s` of frames wait (the lane stalled), the oldest are dropped and counted
    in `dropped`; a stalled lane never makes memory or delay grow without limit. `close` marks the end of
    the input: a short last frame is zero-padded, and the source is exhausted once it has been taken.
    """

    def __init__(self, clock, frame_ms: int = 30, sample_rate: int = 16000, max_s: float = 30.0,
                 idle_wait_s: float = 0.05):
        self._clock = clock
        self._rate = sample_rate
        self._step = sample_rate * frame_ms // 1000
        self._max_frames = max(1, int(max_s * 1000 / frame_ms))
        self._idle_wait_s = idle_wait_s
        self._cond = threading.Condition()
        self._frames: deque[AudioFrame] = deque()
        self._partial = np.zeros(0, dtype=np.float32)
        self._framed = 0  # samples cut into frames so far
        self._origin: float | None = None  # clock time of the first sample
        self._closed = False
        self.dropped = 0  # frames dropped because the queue was full

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def exhausted(self) -> bool:
        with self._cond:
            return self._closed and not self._frames

    def push(self, samples: np.ndarray) -> None:
        samples = np.array(samples, dtype=np.float32).reshape(-1)  # a copy: callers may reuse their buffer
        with self._cond:
            if self._closed or samples.size == 0:
                return
            if self._origin is None:
                self._origin = self._clock.now() - samples.shape[0] / self._rate
            self._partial = np.concatenate([self._partial, samples]) if self._partial.size else samples
            while self._partial.shape[0] >= self._step:
                self._emit(self._partial[: self._step].copy())
                self._partial = self._partial[self._step :]
            self._cond.notify_all()
        self._clock.notify()

    def _emit(self, chunk: np.ndarray) -> None:
        self._frames.append(AudioFrame(self._origin + self._framed / self._rate, chunk))
        self._framed += chunk.shape[0]
        while len(self._frames) > self._max_frames:
            self._frames.popleft()
            self.dropped += 1

    def close(self) -> None:
        """The input has ended (or is abandoned): no more frames will come."""
        with self._cond:
            if not self._closed and self._partial.size and self._origin is not None:
                self._emit(np.pad(self._partial, (0, self._step - self._partial.shape[0])))
            self._partial = np.zeros(0, dtype=np.float32)
            self._closed = True
            self._cond.notify_all()
        self._clock.notify()

    def ready(self, now: float) -> list[AudioFrame]:
        """Every frame pushed so far (live frames have all arrived by the time they are pushed)."""
        with self._cond:
            out = list(self._frames)
            self._frames.clear()
            return out

    def next_arrival(self) -> float:
        """Live frames are announced by `push` (it wakes the clock); look again after `idle_wait_s` anyway,
        so a cancel is seen."""
        return self._clock.now() + self._idle_wait_s

    def waiting(self) -> bool:
        return bool(self._frames)
