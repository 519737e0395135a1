"""A stand-in for the sounddevice module: an input stream that plays a signal into its callback from a
thread (faster than real time if asked), and an output stream that pulls from its callback and keeps what
it was given."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np


class FakeSoundDevice:
    def __init__(self, audio: np.ndarray | None = None, speed: float = 1.0, inputs: int = 1, outputs: int = 1,
                 input_rate: int = 16000):
        self.audio = np.zeros(0, np.float32) if audio is None else audio
        self.speed = speed
        self.input_rate = input_rate
        self.devices = ([{"name": "fake mic", "max_input_channels": 1, "max_output_channels": 0,
                          "default_samplerate": float(input_rate)}] * inputs
                        + [{"name": "fake speaker", "max_input_channels": 0, "max_output_channels": 2,
                            "default_samplerate": 48000.0}] * outputs)
        self.default = SimpleNamespace(device=[0, inputs])
        self.inputs: list[FakeInputStream] = []
        self.outputs: list[FakeOutputStream] = []
        self.input_done = threading.Event()

    def query_devices(self, device=None, kind=None):
        if kind is not None:
            wanted = "max_input_channels" if kind == "input" else "max_output_channels"
            return next(d for d in self.devices if d[wanted] > 0) if device is None else self.devices[device]
        return list(self.devices)

    def check_input_settings(self, device=None, samplerate=None, channels=None, dtype=None):
        if samplerate != self.input_rate:
            raise ValueError("Invalid sample rate")

    def check_output_settings(self, device=None, samplerate=None, channels=None, dtype=None):
        pass  # takes any rate

    def InputStream(self, **kwargs):
        stream = FakeInputStream(self, **kwargs)
        self.inputs.append(stream)
        return stream

    def OutputStream(self, **kwargs):
        stream = FakeOutputStream(**kwargs)
        self.outputs.append(stream)
        return stream


class _FakeStream:
    """A stream whose callback runs in its own thread (`_run`), as PortAudio's does. `vanish` is the sound
    server going away: the thread ends and `finished_callback` runs, as PortAudio does then."""

    def __init__(self, finished_callback=None):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._finished_callback = finished_callback

    def vanish(self):
        self._stop.set()
        self._thread.join()
        if self._finished_callback is not None:
            self._finished_callback()

    def _run(self):
        raise NotImplementedError

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()

    def close(self):
        pass


class FakeInputStream(_FakeStream):
    def __init__(self, fake: FakeSoundDevice, callback, samplerate, blocksize, finished_callback=None, **kwargs):
        self.fake, self.callback, self.rate, self.blocksize = fake, callback, samplerate, blocksize
        super().__init__(finished_callback)

    def _run(self):
        """The signal, then silence (a microphone goes on delivering) until stopped."""
        audio = self.fake.audio
        start = 0
        while not self._stop.wait(self.blocksize / self.rate / self.fake.speed):
            block = audio[start : start + self.blocksize]
            if block.shape[0] < self.blocksize:
                block = np.concatenate([block, np.zeros(self.blocksize - block.shape[0], np.float32)])
            self.callback(block.reshape(-1, 1).copy(), block.shape[0], None, None)
            start += self.blocksize
            if start >= audio.shape[0]:
                self.fake.input_done.set()


class FakeOutputStream(_FakeStream):
    def __init__(self, callback, samplerate, blocksize=0, finished_callback=None, **kwargs):
        self.callback, self.rate = callback, samplerate
        self.block = blocksize or samplerate // 50
        self.played: list[np.ndarray] = []
        super().__init__(finished_callback)

    def _run(self):
        while not self._stop.wait(self.block / self.rate / 4):  # 4x faster than real time
            out = np.zeros((self.block, 1), np.float32)
            self.callback(out, self.block, None, None)
            self.played.append(out[:, 0].copy())

    def audio(self) -> np.ndarray:
        return np.concatenate(self.played) if self.played else np.zeros(0, np.float32)
