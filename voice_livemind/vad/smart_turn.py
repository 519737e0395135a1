"""Smart Turn v3 (pipecat): the probability that the speaker has finished their turn, from the audio alone.

The model (`packaged:smart-turn-v3.2`, an 8 MB ONNX file from the `pipecat-ai` wheel, BSD-2-Clause) is a
Whisper-tiny encoder with a linear head. It hears the last 8 s of 16 kHz audio, zero-padded at the start
when there is less, as Whisper log-mel features (80 bins, 800 frames) of the waveform normalised to zero
mean and unit variance over those 8 s (transformers' WhisperFeatureExtractor with do_normalize=True, as
pipecat feeds it). faster-whisper's numpy feature extractor computes the same spectrogram (checked against
pipecat's vendored extractor in the tests). One call takes ~50 ms on one core of the 2-core dev machine.

It hears prosody: on real human speech it tells finished from unfinished turns well; on synthetic voices
(Piper, espeak) it mostly says "not finished" at true ends, so judge it on real recordings only.
"""

from __future__ import annotations

import numpy as np

from voice_livemind.onnx_session import open_session

SAMPLE_RATE = 16000
WINDOW_S = 8
_EPS = 1e-7  # the feature extractor's variance floor


class SmartTurn:
    """`SmartTurn(location)(audio) -> p(complete)` for 16 kHz float audio ending now (the turn so far,
    its trailing silence included)."""

    def __init__(self, location: str = "packaged:smart-turn-v3.2", threads: int = 1, device: str = "cpu"):
        from faster_whisper.feature_extractor import FeatureExtractor

        self._session = open_session(location, threads, device)
        self._features = FeatureExtractor(feature_size=80, sampling_rate=SAMPLE_RATE, chunk_length=WINDOW_S)
        self.calls = 0

    def __call__(self, audio: np.ndarray) -> float:
        features = log_mel(audio, self._features)
        (out,) = self._session.run(None, {"input_features": features[None]})
        self.calls += 1
        return float(np.asarray(out).reshape(-1)[0])


def last_window(audio: np.ndarray) -> np.ndarray:
    """The last 8 s of `audio`, zero-padded at the start to exactly 8 s."""
    n = SAMPLE_RATE * WINDOW_S
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)[-n:]
    return np.pad(audio, (n - audio.size, 0)) if audio.size < n else audio


def log_mel(audio: np.ndarray, extractor) -> np.ndarray:
    """(80, 800) float32 features of the last 8 s of `audio`."""
    x = last_window(audio)
    x = (x - x.mean()) / np.sqrt(x.var() + _EPS)
    return np.asarray(extractor(x, padding=0), dtype=np.float32)[:, : SAMPLE_RATE * WINDOW_S // 160]
