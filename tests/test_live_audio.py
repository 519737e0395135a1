"""`voice-livemind listen` through real audio parts: a PulseAudio server of the test's own (a null sink as
the speaker, a pipe source as the microphone), PortAudio's `pulse` device, the real small models.

The microphone is fed 16 kHz PCM in real time from a fixture; what the assistant says is recorded from the
null sink's monitor (`parec`). Needs Debian's pulseaudio, pulseaudio-utils, libportaudio2 and
libasound2-plugins (ALSA's pulse device); `.ci/run` installs them, elsewhere the tests are skipped.
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
QUESTION = ROOT / "audio_fixtures" / "short_question.wav"  # "What is the capital of France?"
# tiny.en, streaming, hears the last word as "friends" now and then on a loaded machine (seen in CI and in
# test_install): the device path is what these tests check, so the question counts when its start is heard.
HEARD_QUESTION = "what is the capital of"
SECOND = ROOT / "audio_fixtures" / "real_example6.wav"  # "What's 37.67 minus 75.7?"
SINK_RATE = 22050  # Piper's rate: the null sink and the recording take it as it is
LOUD = 0.01  # RMS of a 20 ms block that counts as sound

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NEEDED = "apt-get install pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins"


def tools_or_skip() -> None:
    missing = [tool for tool in ("pulseaudio", "pactl", "parec") if shutil.which(tool) is None]
    if ctypes.util.find_library("portaudio") is None:
        missing.append("PortAudio (libportaudio2)")
    if not missing:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{', '.join(missing)} not installed: .ci/run installs them ({NEEDED})")
    pytest.skip(f"{', '.join(missing)} not installed ({NEEDED})")


def read_pcm16k(path: Path) -> np.ndarray:
    samples, rate = sf.read(path, dtype="int16")
    assert rate == 16000 and samples.ndim == 1
    return samples


class PulseServer:
    """A pulseaudio of the test's own: its runtime folder, socket and home in `folder`, no autospawn, no
    cookie (anonymous access on its socket); `env` points clients (pactl, parec, PortAudio) at it."""

    def __init__(self, folder: Path):
        runtime = folder / "run"
        runtime.mkdir(parents=True)
        self.socket = runtime / "native"
        self.pipe = folder / "mic.pipe"
        client_conf = folder / "client.conf"
        client_conf.write_text("autospawn = no\n")
        self.env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), PULSE_SERVER=f"unix:{self.socket}",
                        PULSE_CLIENTCONFIG=str(client_conf))
        server_env = {k: v for k, v in self.env.items() if k != "PULSE_SERVER"}
        server_env["HOME"] = str(folder)  # its state and cookie stay in the test's folder
        self.log = folder / "pulseaudio.log"
        self.proc = subprocess.Popen(
            ["pulseaudio", "--daemonize=no", "-n", "--exit-idle-time=-1", "--disallow-exit", "--use-pid-file=no",
             f"--load=module-native-protocol-unix socket={self.socket} auth-anonymous=1", "--log-target=stderr"],
            env=server_env, stdout=open(self.log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 15
        while self.pactl("info", check=False).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pulseaudio did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        self.pactl("load-module", "module-null-sink", "sink_name=spk", f"rate={SINK_RATE}", "channels=1")
        self.pactl("load-module", "module-pipe-source", "source_name=mic", f"file={self.pipe}", "format=s16le",
                   "rate=16000", "channels=1")
        self.pactl("set-default-sink", "spk")
        self.pactl("set-default-source", "mic")

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True, timeout=10,
                              check=check)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class PipeMicrophone:
    """Writes 16 kHz s16le into the pipe source in real time: queued clips, silence in between."""

    BLOCK = 320  # 20 ms

    def __init__(self, pipe: Path):
        self._fd = os.open(pipe, os.O_WRONLY)
        self._lock = threading.Lock()
        self._clips: list[tuple[np.ndarray, threading.Event, list]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def play(self, samples: np.ndarray) -> tuple[threading.Event, list]:
        """Queue a clip; returns (done, started_at): started_at gets the monotonic time of its first sample."""
        done, started_at = threading.Event(), []
        with self._lock:
            self._clips.append((samples, done, started_at))
        return done, started_at

    def _run(self) -> None:
        start, written, pos = time.monotonic(), 0, 0
        silence = np.zeros(self.BLOCK, np.int16)
        while not self._stop.is_set():
            with self._lock:
                clip = self._clips[0] if self._clips else None
            if clip is None:
                block = silence
            else:
                samples, done, started_at = clip
                if pos == 0:
                    started_at.append(time.monotonic())
                block = samples[pos : pos + self.BLOCK]
                pos += self.BLOCK
                if block.shape[0] < self.BLOCK:
                    block = np.pad(block, (0, self.BLOCK - block.shape[0]))
                if pos >= samples.shape[0]:
                    with self._lock:
                        self._clips.pop(0)
                    pos = 0
                    done.set()
            try:
                os.write(self._fd, block.tobytes())
            except OSError:  # the server went away
                return
            written += self.BLOCK
            late = time.monotonic() - (start + written / 16000)
            if late > 0.1:  # the pipe was full (nobody read it): go on from now, never in a burst
                start, written = time.monotonic(), 0
            time.sleep(max(0.0, -late))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self._fd)


class SinkRecorder:
    """`parec` on the null sink's monitor into a file; the monitor runs in real time, silent or not, so
    sample i was played at about `started + i / SINK_RATE`."""

    def __init__(self, server: PulseServer, path: Path):
        self.path = path
        self.proc = subprocess.Popen(["parec", "-d", "spk.monitor", "--raw", "--format=s16le", f"--rate={SINK_RATE}",
                                      "--channels=1"], env=server.env, stdout=open(path, "wb"),
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while path.stat().st_size == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        self.started = time.monotonic()

    def audio(self) -> np.ndarray:
        data = self.path.read_bytes()
        return np.frombuffer(data[: len(data) // 2 * 2], np.int16).astype(np.float32) / 32768

    def loud_blocks(self) -> np.ndarray:
        """Start times (s from `started`) of the 20 ms blocks with sound."""
        audio = self.audio()
        block = SINK_RATE // 50
        n = audio.shape[0] // block
        rms = np.sqrt(np.mean(audio[: n * block].reshape(n, block) ** 2, axis=1)) if n else np.zeros(0)
        return np.flatnonzero(rms > LOUD) * block / SINK_RATE

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Listen:
    """`voice-livemind listen` in a subprocess whose stdout lines are collected as they come."""

    def __init__(self, server: PulseServer, folder: Path, *args: str, mode: str = "direct"):
        script = Path(sys.executable).with_name("voice-livemind")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "voice_livemind.cli"]
        self.stderr_path = folder / "listen.stderr"
        self.proc = subprocess.Popen([*command, "listen", "--mode", mode, *args], env=server.env, cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=open(self.stderr_path, "w"), text=True,
                                     start_new_session=True)
        self.lines: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float, count: int = 1) -> list[tuple[float, str]]:
        with self._cond:
            ok = self._cond.wait_for(lambda: len([x for x in self.lines if predicate(x[1])]) >= count
                                     or self.proc.poll() is not None, timeout)
            found = [x for x in self.lines if predicate(x[1])]
        if len(found) < count:
            pytest.fail(f"listen did not print the expected line ({'exited' if ok else 'timed out'}); "
                        f"stdout: {self.text()!r}; stderr: {self.stderr()[-2000:]!r}")
        return found

    def text(self) -> str:
        with self._cond:
            return "\n".join(line for _, line in self.lines)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def interrupt(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("listen did not end within 30 s of Ctrl-C")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def live(tmp_path):
    """A pulse server with the pipe microphone and the sink recorder running; torn down in reverse."""
    tools_or_skip()
    server = PulseServer(tmp_path)
    mic = recorder = None
    try:
        mic = PipeMicrophone(server.pipe)
        recorder = SinkRecorder(server, tmp_path / "sink.raw")
        yield server, mic, recorder
    finally:
        if recorder is not None:
            recorder.stop()
        if mic is not None:
            mic.close()
        server.stop()


def answered(line: str) -> bool:
    return line.startswith("assistant: ")


# The baseline's answer reasons step by step: long enough to check its words in the recording and to talk
# over, whatever the small model's near-tie tokens make of it (direct's answer to this question was two words
# with the Q8_0 copy of the model, "L'Alma: Paris", and had finished playing before the barge-in).
LONG_ANSWER = "baseline"


def test_listen_hears_a_question_from_the_pulse_microphone_and_speaks_into_the_sink(live, tmp_path):
    server, mic, recorder = live
    listen = Listen(server, tmp_path, mode=LONG_ANSWER)
    try:
        listen.wait_for(lambda line: line.startswith("listening:"), timeout=180)  # models load first
        done, started_at = mic.play(read_pcm16k(QUESTION))
        (t_answer, answer), = listen.wait_for(answered, timeout=90)
        (_, latency), = listen.wait_for(lambda line: "latency from the end of speech" in line, timeout=30)
        time.sleep(4.0)  # the rest of the answer plays
        assert listen.interrupt() == 0
    finally:
        listen.kill()
    text = listen.text()
    assert HEARD_QUESTION in text.lower(), text
    assert len(answer.removeprefix("assistant: ").split()) >= 1
    # Audio time and clock time share their origin (frames are timed by sample count): the end of speech
    # is found after it happened, and the first audio after that.
    end_detected = float(latency.split("end detected ")[1].split(" s")[0])
    first_audio = float(latency.split("first audio ")[1].split(" s")[0])
    assert 0 <= end_detected < 2.0 and end_detected < first_audio, latency
    loud = recorder.loud_blocks()
    question_at = started_at[0] - recorder.started
    assert loud.shape[0] * 0.02 >= 0.5, f"the sink recorded {loud.shape[0] * 0.02:.2f} s of sound"
    assert loud[0] > question_at + 2.0  # the answer, after the question's end of speech (2.03 s in)
    assert np.max(np.abs(recorder.audio())) > 0.1
    # What reached the speaker is the answer: Whisper hears its words in the recording.
    import soxr

    from voice_livemind.asr.whisper_backend import FasterWhisperBackend
    from voice_livemind.config import load_config

    played = recorder.audio()[int(max(0.0, loud[0] - 0.5) * SINK_RATE) :]
    words = FasterWhisperBackend(load_config().asr).transcribe(soxr.resample(played, SINK_RATE, 16000), "")
    said = {w.strip(" .,!?-").lower() for w in answer.removeprefix("assistant: ").split()}
    recorded = {w.text.strip(" .,!?-").lower() for w in words}
    assert len(said & recorded) >= 2, (answer, [w.text for w in words])


def test_barge_in_through_the_real_devices_stops_the_playing_answer(live, tmp_path):
    server, mic, recorder = live
    listen = Listen(server, tmp_path, mode=LONG_ANSWER)
    try:
        listen.wait_for(lambda line: line.startswith("listening:"), timeout=180)
        mic.play(read_pcm16k(QUESTION))
        deadline = time.monotonic() + 90
        while recorder.loud_blocks().shape[0] == 0:  # wait for the answer to reach the speaker
            assert time.monotonic() < deadline, f"no answer audio reached the sink: {listen.text()!r}"
            time.sleep(0.05)
        first_sound = recorder.loud_blocks()[0]
        second = read_pcm16k(SECOND)
        _, started_at = mic.play(second)  # the user talks over the answer
        listen.wait_for(lambda line: line.startswith("  [barge-in: stopped"), timeout=30)
        listen.wait_for(answered, timeout=90, count=2)
        time.sleep(3.0)
        assert listen.interrupt() == 0
    finally:
        listen.kill()
    text = listen.text()
    assert HEARD_QUESTION in text.lower() and "minus" in text.lower(), text
    assert text.index("[barge-in: stopped") < text.index("listening (turn 2)"), text
    stop_ms = float(text.split("[barge-in: stopped ")[1].split(" ms")[0])
    # From the frame that confirmed the speech. LiveSource dates frames by counting samples, so a device that
    # hands over a block a little early makes this a few ms negative (-4 ms seen in CI): one block of slack.
    assert -50 < stop_ms < 500, text
    # The sink: the first answer's sound stops soon after the user started talking, and stays silent
    # until the second answer (the second question still has to end and be answered).
    loud = recorder.loud_blocks()
    talk_at = started_at[0] - recorder.started
    after = loud[loud > first_sound]
    gaps = np.diff(after)
    end_first = after[np.argmax(gaps > 0.8)] if np.any(gaps > 0.8) else after[-1]
    assert end_first < talk_at + 2.0, f"the answer went on playing until {end_first - talk_at:.2f} s after the talk"
    assert np.any(gaps > 0.8), "no silence between the interrupted answer and the second one"


def test_stopping_the_sound_server_under_listen_ends_it_with_one_clear_message(live, tmp_path):
    server, mic, recorder = live
    listen = Listen(server, tmp_path)
    try:
        listen.wait_for(lambda line: line.startswith("listening:"), timeout=180)
        time.sleep(1.0)
        recorder.stop()
        server.stop()
        stopped = time.monotonic()
        try:
            code = listen.proc.wait(20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"listen still runs 20 s after the sound server stopped: {listen.stderr()[-2000:]!r}")
    finally:
        listen.kill()
    assert time.monotonic() - stopped < 10
    assert code == 3, listen.stderr()
    err = listen.stderr()
    assert "audio error: the " in err and "stream stopped (the sound server or the device went away)" in err
    assert "voice-livemind devices" in err
