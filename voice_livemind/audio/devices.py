"""Sound card input and output through sounddevice (PortAudio): the microphone and the speaker.

sounddevice is imported only here, inside functions, and a machine without PortAudio or without devices
gets an `AudioDeviceError` that says what to use instead (`replay` for files, `serve` for a browser),
not a traceback. The module object is passed in (`sd`), so tests drive the same code with a fake one.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

from voice_livemind.audio.live import LiveSource
from voice_livemind.audio.source import AudioError

ALTERNATIVES = ("Without a microphone and speaker here: `voice-livemind replay AUDIO --out DIR` answers a "
                "recorded question, and `voice-livemind serve` serves a web page that uses the microphone "
                "and speaker of the browser's machine.")


class AudioDeviceError(AudioError):
    """No usable sound card: the message says what is missing and what to use instead."""


class DeviceLost:
    """Whether a PortAudio stream ended without being asked to: its sound server or device went away.

    PortAudio then calls the stream's `finished_callback` and the stream is no longer active; a stream
    that still runs but whose callback has not run for `stall_s` (after it first ran) counts as lost too.
    """

    def __init__(self, what: str, stall_s: float = 5.0):
        self.what = what
        self.stall_s = stall_s
        self.stopping = False  # set before we stop the stream ourselves
        self.finished = threading.Event()
        self.last_callback: float | None = None

    def tick(self) -> None:
        self.last_callback = time.monotonic()

    def on_finished(self) -> None:
        if not self.stopping:
            self.finished.set()

    def reason(self) -> str | None:
        """None while the stream works; else why it is taken as lost."""
        if self.finished.is_set():
            return f"the {self.what} stream stopped (the sound server or the device went away)"
        if self.stall_s and self.last_callback is not None and not self.stopping:
            silent = time.monotonic() - self.last_callback
            if silent > self.stall_s:
                return f"the {self.what} delivered nothing for {silent:.1f} s (the sound server or the device stalled)"
        return None


def import_sounddevice():
    try:
        import sounddevice
    except OSError as err:  # sounddevice raises OSError when the PortAudio library is missing
        raise AudioDeviceError(f"cannot use a sound card: {err} (install PortAudio, e.g. the libportaudio2 "
                               f"package). {ALTERNATIVES}") from err
    return sounddevice


def query_devices(sd) -> list[dict]:
    try:
        return [dict(d, index=i) for i, d in enumerate(sd.query_devices())]
    except Exception as err:  # PortAudioError and friends
        raise AudioDeviceError(f"cannot list the sound devices: {err}. {ALTERNATIVES}") from err


def describe_devices(sd) -> str:
    devices = query_devices(sd)
    if not devices:
        raise AudioDeviceError(f"no sound devices found. {ALTERNATIVES}")
    lines = []
    for d in devices:
        ins, outs = d.get("max_input_channels", 0), d.get("max_output_channels", 0)
        roles = ", ".join(r for r, n in (("input", ins), ("output", outs)) if n > 0)
        lines.append(f"{d['index']:3d}  {d['name']}  ({roles}; {d.get('default_samplerate', 0):.0f} Hz)")
    return "\n".join(lines)


def pick_device(sd, device: int | None, kind: str) -> int | None:
    """Check that there is a device for `kind` ("input"/"output"); `device` None means the default."""
    devices = query_devices(sd)
    channels = f"max_{kind}_channels"
    usable = [d for d in devices if d.get(channels, 0) > 0]
    what = "microphone (input)" if kind == "input" else "speaker (output)"
    if not usable:
        raise AudioDeviceError(f"no {what} device found. {ALTERNATIVES}")
    if device is not None and device not in {d["index"] for d in usable}:
        choices = ", ".join(f"{d['index']} ({d['name']})" for d in usable)
        raise AudioDeviceError(f"--{kind}-device {device} is not a {what} device; choose one of: {choices} "
                               f"(see `voice-livemind devices`)")
    return device


def _device_rate(sd, device, kind: str, wanted: int) -> int:
    """`wanted` if the device takes it, else the device's own default rate (we resample)."""
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=device, samplerate=wanted, channels=1, dtype="float32")
        return wanted
    except Exception:
        return int(sd.query_devices(device, kind)["default_samplerate"])


class Microphone:
    """An input stream whose callback pushes 16 kHz mono float32 into a LiveSource."""

    def __init__(self, sd, source: LiveSource, device: int | None = None, sample_rate: int = 16000,
                 block_ms: int = 30):
        self._source = source
        rate = _device_rate(sd, device, "input", sample_rate)
        self._resampler = None
        if rate != sample_rate:
            import soxr

            self._resampler = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32")
        self.overflows = 0
        self.lost = DeviceLost("microphone")
        self._stream = sd.InputStream(device=device, samplerate=rate, channels=1, dtype="float32",
                                      blocksize=rate * block_ms // 1000, callback=self._callback,
                                      finished_callback=self.lost.on_finished)

    def _callback(self, indata, frames, time, status) -> None:
        self.lost.tick()
        if status:
            self.overflows += 1
        samples = indata[:, 0]
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        self._source.push(samples)

    def __enter__(self) -> "Microphone":
        self._stream.start()
        return self

    def __exit__(self, *exc) -> None:
        self.lost.stopping = True
        self._stream.stop()
        self._stream.close()


class SpeakerSink:
    """Plays the answer through an output stream fed from a bounded queue; `stop()` drops what is queued.

    `write` returns at once while less than `max_s` of audio waits (the lane goes on listening while the
    answer plays); beyond that it waits for the speaker. `close` lets the queued audio finish.
    """

    def __init__(self, sd, sample_rate: int, device: int | None = None, max_s: float = 60.0):
        self._rate = _device_rate(sd, device, "output", sample_rate)
        self._max = int(max_s * self._rate)
        self._cond = threading.Condition()
        self._queue: deque[np.ndarray] = deque()
        self._queued = 0
        self._closed = False
        self.played = 0  # samples handed to the device
        self.lost = DeviceLost("speaker", stall_s=0)  # an output callback may pause while nothing plays
        self._stream = sd.OutputStream(device=device, samplerate=self._rate, channels=1, dtype="float32",
                                       callback=self._callback, finished_callback=self._finished)
        self._stream.start()

    def write(self, samples: np.ndarray, sample_rate: int) -> None:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if sample_rate != self._rate:
            import soxr

            samples = soxr.resample(samples, sample_rate, self._rate).astype(np.float32)
        with self._cond:
            while (self._queued and self._queued + samples.shape[0] > self._max and not self._closed
                   and not self.lost.finished.is_set()):
                self._cond.wait(0.1)
            self._queue.append(samples)
            self._queued += samples.shape[0]

    def _callback(self, outdata, frames, time, status) -> None:
        out = outdata[:, 0]
        filled = 0
        with self._cond:
            while filled < frames and self._queue:
                head = self._queue[0]
                n = min(frames - filled, head.shape[0])
                out[filled : filled + n] = head[:n]
                filled += n
                if n == head.shape[0]:
                    self._queue.popleft()
                else:
                    self._queue[0] = head[n:]
                self._queued -= n
            self.played += filled
            self._cond.notify_all()
        out[filled:] = 0.0

    def _finished(self) -> None:
        self.lost.on_finished()
        with self._cond:
            self._cond.notify_all()  # a writer or close waiting for the queue to drain waits no more

    def stop(self) -> None:
        """Barge-in: silence now, drop everything queued."""
        with self._cond:
            self._queue.clear()
            self._queued = 0
            self._cond.notify_all()

    def close(self, drain_timeout_s: float = 30.0) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._queued == 0 or self.lost.finished.is_set(), timeout=drain_timeout_s)
            self._closed = True
            self._cond.notify_all()
        self.lost.stopping = True
        self._stream.stop()
        self._stream.close()
