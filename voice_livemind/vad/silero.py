"""Silero VAD: a speech probability per 32 ms of 16 kHz audio, and a webrtcvad classifier it confirms.

The model (`packaged:silero-vad`, the ONNX file shipped in the `pipecat-ai` wheel, MIT License, Silero
Team) is recurrent: each call takes 512 new samples with the last 64 samples of the previous window in
front of them, and its state. webrtcvad alone calls steady background noise speech (a turn held open for
as long as the noise lasts); Silero does not, so `SileroConfirmed` keeps webrtcvad's timing and counts a
frame as speech only while Silero agrees.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from voice_livemind.onnx_session import open_session

SAMPLE_RATE = 16000
WINDOW = 512  # samples per call at 16 kHz
CONTEXT = 64  # samples of the previous window the model sees again


class SileroVAD:
    """Streaming speech probabilities: `push(samples)` returns one probability per complete 512-sample
    window (samples left over wait for the next push)."""

    def __init__(self, location: str = "packaged:silero-vad", threads: int = 1, device: str = "cpu", session=None):
        self._session = session if session is not None else open_session(location, threads, device)
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self.probability = 0.0  # of the last complete window

    def window(self, samples: np.ndarray) -> float:
        """The probability of one window of exactly 512 samples."""
        x = np.concatenate([self._context, samples.astype(np.float32, copy=False)])[None]
        out, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": self._sr})
        self._context = x[0, -CONTEXT:]
        self.probability = float(np.asarray(out).reshape(-1)[0])
        return self.probability

    def push(self, samples: np.ndarray) -> list[float]:
        buf = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32).reshape(-1)])
        n = buf.size // WINDOW
        probs = [self.window(buf[i * WINDOW:(i + 1) * WINDOW]) for i in range(n)]
        self._pending = buf[n * WINDOW:]
        return probs


class SileroConfirmed:
    """A frame classifier: speech when webrtcvad calls the frame speech and Silero's probability reached
    `threshold` within the last `hold_ms` (Silero answers a window or two after speech starts and dips
    between syllables; webrtcvad still decides where speech starts and stops). Keeps webrtcvad's
    `overhang_ms`, so the endpointer's estimate of the end of speech is unchanged."""

    def __init__(self, webrtc, silero: SileroVAD, threshold: float = 0.5, hold_ms: int = 200,
                 frame_ms: int = 30):
        self.webrtc = webrtc
        self.silero = silero
        self.threshold = threshold
        self.overhang_ms = getattr(webrtc, "overhang_ms", 0)
        self._recent: deque[float] = deque(maxlen=max(1, -(-hold_ms // frame_ms)))  # max prob per frame

    def __call__(self, samples: np.ndarray) -> bool:
        probs = self.silero.push(samples)
        self._recent.append(max(probs) if probs else self.silero.probability)
        return bool(self.webrtc(samples)) and max(self._recent) >= self.threshold
