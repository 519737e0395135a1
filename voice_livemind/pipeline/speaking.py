"""Speaking: the answer's audio into the sink, and when it will have played (on the pipeline's clock)."""

from __future__ import annotations

import numpy as np

from voice_livemind.pipeline.backends import Sink


class Speaking:
    def __init__(self, sink: Sink, clock):
        self.sink = sink
        self.clock = clock
        self.playback_end = 0.0  # clock time at which the audio written so far has played

    def play(self, samples: np.ndarray, sample_rate: int) -> None:
        """Audio written at time t plays from t (or after what is queued) for its duration."""
        self.sink.write(samples, sample_rate)
        start = max(self.clock.now(), self.playback_end)
        self.playback_end = start + samples.shape[0] / sample_rate

    @property
    def playing(self) -> bool:
        return self.clock.now() < self.playback_end - 1e-9

    def stop(self) -> bool:
        """Barge-in: drop what is queued (a sink that plays has `stop()`). True if audio was playing."""
        playing = self.playing
        if playing:
            stop = getattr(self.sink, "stop", None)
            if stop is not None:
                stop()
            self.playback_end = self.clock.now()
        return playing
