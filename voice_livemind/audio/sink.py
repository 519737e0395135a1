"""Audio outputs: the answer's speech goes to a WAV file (or nowhere, in benchmarks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class WavSink:
    """Collects TTS chunks and writes them as one 16-bit WAV at the voice's own rate."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._chunks: list[np.ndarray] = []
        self.sample_rate: int | None = None

    def write(self, samples: np.ndarray, sample_rate: int) -> None:
        if self.sample_rate is None:
            self.sample_rate = sample_rate
        elif sample_rate != self.sample_rate:
            raise ValueError(f"WavSink got {sample_rate} Hz after {self.sample_rate} Hz; one voice per file")
        self._chunks.append(np.asarray(samples, dtype=np.float32))

    def close(self) -> None:
        import soundfile

        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)
        soundfile.write(str(self.path), audio, self.sample_rate or 22050, subtype="PCM_16")


class NullSink:
    def write(self, samples: np.ndarray, sample_rate: int) -> None:
        pass

    def close(self) -> None:
        pass
