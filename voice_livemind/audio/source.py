"""Audio inputs: files of any common format, rate and channel count, turned into 16 kHz mono frames."""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np


class AudioError(ValueError):
    """The audio could not be used; the message says which file and why."""


@dataclass(frozen=True)
class Sidecar:
    """What `NAME.json` (or a plain `NAME.txt` transcript) beside `NAME.wav` knows about it (all optional)."""

    text: str | None = None
    speech_start: float | None = None
    speech_end: float | None = None
    answer: str | None = None  # the correct option letter of a multiple-choice question
    pauses: tuple[tuple[float, float], ...] = ()  # deliberate pauses inside the utterance, seconds


def read_sidecar(audio_path: str | Path) -> Sidecar | None:
    """The sidecar of an audio file, None when there is none; AudioError when it cannot be used."""
    path, plain = Path(audio_path).with_suffix(".json"), Path(audio_path).with_suffix(".txt")
    if not path.exists():
        if not plain.exists():
            return None
        try:
            return Sidecar(text=plain.read_text().strip())
        except (OSError, UnicodeDecodeError) as err:
            raise AudioError(f"cannot read {plain.name} ({err})") from err
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AudioError(f"sidecar {path.name} is not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise AudioError(f"sidecar {path.name}: expected a JSON object")

    def number(key):
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise AudioError(f"sidecar {path.name}: {key} must be a number of seconds, got {value!r}")
        return None if value is None else float(value)

    try:
        pauses = tuple((float(a), float(b)) for a, b in data.get("pauses") or [])
    except (TypeError, ValueError) as err:
        raise AudioError(f"sidecar {path.name}: pauses must be [[start, end], ...] in seconds") from err
    text = data.get("text")
    return Sidecar(text=text if isinstance(text, str) else None, speech_start=number("speech_start"),
                   speech_end=number("speech_end"), answer=data.get("answer"), pauses=pauses)


def to_mono_16k(samples: np.ndarray, rate: int, target_rate: int = 16000) -> np.ndarray:
    """Mix channels down and resample (soxr, high quality) to float32 mono at `target_rate`."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float32)
    if rate != target_rate:
        import soxr

        samples = soxr.resample(samples, rate, target_rate, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(samples)


def load_audio(path: str | Path, target_rate: int = 16000) -> np.ndarray:
    """Read wav/flac/ogg/mp3 (anything libsndfile reads) as float32 mono at `target_rate`."""
    import soundfile

    path = Path(path)
    if not path.exists():
        raise AudioError(f"audio file {path} does not exist")
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioError(f"cannot read audio file {path}: {err} (supported: wav, flac, ogg, mp3)") from err
    if samples.shape[0] == 0:
        raise AudioError(f"audio file {path} holds no samples")
    return to_mono_16k(samples, rate, target_rate)


@dataclass(frozen=True)
class AudioFrame:
    t: float  # start time of the frame in the input stream, seconds
    samples: np.ndarray  # float32 mono

    @property
    def duration(self) -> float:
        return self.samples.shape[0] / 16000


def frames_of(samples: np.ndarray, frame_ms: int, sample_rate: int = 16000) -> Iterator[AudioFrame]:
    """Cut a signal into fixed frames; a short last frame is zero-padded so the VAD can read it."""
    step = sample_rate * frame_ms // 1000
    for start in range(0, samples.shape[0], step):
        chunk = samples[start : start + step]
        if chunk.shape[0] < step:
            chunk = np.pad(chunk, (0, step - chunk.shape[0]))
        yield AudioFrame(start / sample_rate, chunk)


class FrameSource(Protocol):
    """Where the pipeline's audio frames come from: a file replayed on the clock, or live audio."""

    @property
    def exhausted(self) -> bool:
        """No frame is waiting and none will come any more."""
        ...

    def ready(self, now: float) -> list[AudioFrame]:
        """The frames that have fully arrived by clock time `now`, in order; each is handed out once."""
        ...

    def next_arrival(self) -> float:
        """Clock time by which the next frame may have arrived (math.inf: none will, or unknown)."""
        ...

    def waiting(self) -> bool:
        """A frame has arrived and waits to be taken (sources fed from another thread)."""
        ...


class ArraySource:
    """A whole signal replayed as if it were arriving: frame k is there once the clock reaches its end."""

    def __init__(self, samples: np.ndarray, frame_ms: int, sample_rate: int = 16000):
        self._frames = deque(frames_of(samples, frame_ms, sample_rate))

    @property
    def exhausted(self) -> bool:
        return not self._frames

    def ready(self, now: float) -> list[AudioFrame]:
        out = []
        while self._frames and self._frames[0].t + self._frames[0].duration <= now + 1e-9:
            out.append(self._frames.popleft())
        return out

    def next_arrival(self) -> float:
        return self._frames[0].t + self._frames[0].duration if self._frames else math.inf

    def waiting(self) -> bool:
        return False  # frames arrive on the clock: `next_arrival` says when
