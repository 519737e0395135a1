"""16-bit PCM <-> float samples: the one conversion used by the VAD, the server, its client and the fixtures.

Float audio is in [-1, 1). An int16 sample k stands for k / 32768, so `from_int16(to_int16(x))` is exact
for any x that came from 16-bit audio (a wav file, a client's pcm_s16le stream), and re-encoding decoded
audio gives back the same bytes.
"""

from __future__ import annotations

import numpy as np

SCALE = 32768.0  # int16 full scale: k <-> k / SCALE
PCM16 = np.dtype("<i2")  # pcm_s16le: little-endian int16, whatever the machine's byte order


def to_int16(samples) -> np.ndarray:
    """Float samples as int16 (little-endian): scaled by 32768, rounded, clipped to [-32768, 32767].

    Values beyond [-1, 1] are clipped. Non-finite samples (NaN, +inf, -inf) become 0 (silence), so a model
    that produced a broken sample cannot crash the conversion or turn it into a full-scale click.
    """
    x = np.nan_to_num(np.asarray(samples, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(np.round(x * SCALE), -SCALE, SCALE - 1).astype(PCM16)


def to_pcm16(samples) -> bytes:
    """Float samples as pcm_s16le bytes (see `to_int16` for rounding, clipping and non-finite samples)."""
    return to_int16(samples).tobytes()


def from_int16(pcm) -> np.ndarray:
    """int16 samples as float32 in [-1, 1): k / 32768."""
    return np.asarray(pcm).astype(np.float32) / np.float32(SCALE)


def from_pcm16(data: bytes) -> np.ndarray:
    """pcm_s16le bytes as float32 samples. The length must be a whole number of 2-byte samples."""
    return from_int16(np.frombuffer(data, dtype=PCM16))


def finite_in_range(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float samples made safe for the models: non-finite samples (NaN, +inf, -inf) become 0 (silence), and
    the rest are clipped to [-1, 1] (one NaN in Whisper's window blanks its whole transcript; a huge value
    overflows its spectrogram). Returns the samples (the same array when nothing had to change; never
    changed in place) and the indices of the non-finite ones."""
    samples = np.asarray(samples, dtype=np.float32)
    finite = np.isfinite(samples)
    if finite.all():
        if samples.size == 0 or (samples.max() <= 1.0 and samples.min() >= -1.0):
            return samples, np.zeros(0, dtype=np.intp)
        return np.clip(samples, -1.0, 1.0), np.zeros(0, dtype=np.intp)
    bad = np.flatnonzero(~finite)
    return np.clip(np.where(finite, samples, np.float32(0.0)), -1.0, 1.0), bad
