"""voice_livemind.audio.pcm: float <-> 16-bit PCM, rounding, clipping, non-finite samples, byte order."""

import numpy as np
import pytest

from voice_livemind.audio.pcm import from_int16, from_pcm16, to_int16, to_pcm16


def test_every_int16_value_round_trips_exactly():
    every = np.arange(-32768, 32768, dtype=np.int16)
    decoded = from_int16(every)
    assert decoded.dtype == np.float32
    assert decoded.min() == -1.0 and decoded.max() == 32767 / 32768
    assert np.array_equal(to_int16(decoded), every)


def test_bytes_are_little_endian_int16_and_round_trip():
    data = to_pcm16(np.array([0.0, 0.5, -0.5, 1 / 32768], dtype=np.float32))
    assert data == np.array([0, 16384, -16384, 1], dtype="<i2").tobytes()
    assert data[2:4] == b"\x00\x40"  # 16384, low byte first
    assert to_pcm16(from_pcm16(data)) == data


def test_out_of_range_samples_are_clipped():
    out = to_int16([1.0, -1.0, 1.5, -2.0, 1e30, -1e30])
    assert out.tolist() == [32767, -32768, 32767, -32768, 32767, -32768]


def test_values_are_rounded_to_the_nearest_step_not_truncated():
    step = 1 / 32768
    assert to_int16([0.6 * step, -0.6 * step, 0.4 * step, 2.6 * step]).tolist() == [1, -1, 0, 3]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_become_silence(bad):
    samples = np.array([0.25, bad, -0.25], dtype=np.float32)
    with np.errstate(all="raise"):  # no warning or error on the way either
        out = to_int16(samples)
    assert out.tolist() == [8192, 0, -8192]
    assert to_pcm16(samples) == out.tobytes()
    assert np.isnan(samples[1]) or np.isinf(samples[1])  # the caller's array is left alone


def test_float64_and_lists_are_accepted_and_empty_input_gives_empty_output():
    assert to_int16([0.5]).tolist() == to_int16(np.array([0.5], dtype=np.float64)).tolist() == [16384]
    assert to_pcm16(np.zeros(0, dtype=np.float32)) == b""
    assert from_pcm16(b"").shape == (0,) and from_pcm16(b"").dtype == np.float32


def test_decoded_bytes_are_a_writable_copy():
    samples = from_pcm16(to_pcm16([0.5, -0.5]))
    samples *= 2  # np.frombuffer alone would be read-only
    assert samples.tolist() == [1.0, -1.0]
