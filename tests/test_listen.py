"""The microphone path with a fake sounddevice: live frames in, answer audio out, status on the terminal."""

import io
import threading
import time

import numpy as np
import pytest

from tests.fake_sounddevice import FakeSoundDevice
from tests.fakes import FakeTTS, ScriptedASR, ScriptedChatModel, energy_vad, silence, tone
from voice_livemind import cli
from voice_livemind.audio import devices
from voice_livemind.audio.devices import AudioDeviceError, SpeakerSink
from voice_livemind.audio.live import LiveSource
from voice_livemind.clock import RealClock
from voice_livemind.config import load_config
from voice_livemind.listen import listen
from voice_livemind.pipeline import Backends

SCRIPT = [(0.3, 0.6, " What"), (0.6, 0.8, " is"), (0.8, 1.0, " two"), (1.0, 1.4, " plus"), (1.4, 1.6, " two?")]


def fast_backends(clock):
    return Backends(is_speech=energy_vad, asr=ScriptedASR(clock, SCRIPT, cost_s=0.01),
                    inference_model=ScriptedChatModel(clock, ["action wait."], prefill_s=0.01, per_token_s=0.002),
                    answer_model=ScriptedChatModel(clock, ["It is four."], prefill_s=0.01, per_token_s=0.002),
                    tts=FakeTTS(clock, cost_s=0.01))


def test_listen_answers_through_a_fake_microphone_and_speaker():
    audio = np.concatenate([silence(0.3), tone(1.5), silence(1.2)])
    fake = FakeSoundDevice(audio, speed=4.0, input_rate=48000)  # a 48 kHz-only mic: resampled to 16 kHz
    fake.audio = np.repeat(audio, 3)  # the same signal at 48 kHz (sample-and-hold is enough for a tone)
    out, stop = io.StringIO(), threading.Event()
    config = load_config(overrides=["mode=direct"])
    threading.Thread(target=lambda: (fake.input_done.wait(20), stop.set()), daemon=True).start()
    turns = listen(config, fast_backends(RealClock()), sd=fake, out=out, stop=stop)
    text = out.getvalue()
    assert turns == 1
    assert "you: What is two plus two?" in text
    assert "assistant: It is four." in text
    assert "latency from the end of speech" in text
    played = fake.outputs[0].audio()
    assert fake.outputs[0].rate == 22050  # the speaker takes the voice's rate
    assert np.count_nonzero(played) == int(0.05 * len("It is four.") * 22050)  # all of FakeTTS's audio


def test_no_devices_is_a_clear_error_that_points_to_replay_and_serve():
    with pytest.raises(AudioDeviceError, match="no microphone .*replay.*serve"):
        listen(load_config(), fast_backends(RealClock()), sd=FakeSoundDevice(inputs=0), out=io.StringIO())
    with pytest.raises(AudioDeviceError, match="--input-device 7 is not a microphone"):
        listen(load_config(), fast_backends(RealClock()), sd=FakeSoundDevice(), input_device=7, out=io.StringIO())


def test_devices_command_without_portaudio_exits_with_a_hint(monkeypatch, capsys):
    def missing():
        raise AudioDeviceError("cannot use a sound card: PortAudio library not found. " + devices.ALTERNATIVES)

    monkeypatch.setattr(devices, "import_sounddevice", missing)
    assert cli.main(["devices"]) == cli.EXIT_AUDIO
    err = capsys.readouterr().err
    assert "PortAudio" in err and "voice-livemind replay" in err and "voice-livemind serve" in err
    monkeypatch.setattr(devices, "import_sounddevice", lambda: FakeSoundDevice())
    assert cli.main(["devices"]) == 0
    assert "fake mic  (input; 16000 Hz)" in capsys.readouterr().out


def test_speaker_sink_stop_drops_the_queue():
    fake = FakeSoundDevice()
    sink = SpeakerSink(fake, 22050)
    sink.write(np.full(22050 * 5, 0.2, np.float32), 22050)
    sink.stop()
    played_at_stop = sink.played
    time.sleep(0.05)  # the stream goes on pulling blocks: silence only from now on
    sink.close()
    assert fake.outputs[0].rate == 22050
    played = np.count_nonzero(fake.outputs[0].audio())
    assert played == played_at_stop  # nothing queued before the stop was played after it
    assert played < 22050  # of the 5 s written, at most the blocks pulled before the stop (~10 ms each)


def test_listen_command_without_a_microphone_fails_before_loading_models(monkeypatch, capsys):
    import voice_livemind.pipeline as pipeline

    monkeypatch.setattr(devices, "import_sounddevice", lambda: FakeSoundDevice(inputs=0))
    monkeypatch.setattr(pipeline, "load_backends", lambda *a: pytest.fail("models loaded before the device check"))
    assert cli.main(["listen"]) == cli.EXIT_AUDIO
    err = capsys.readouterr().err
    assert "no microphone (input) device found" in err and "voice-livemind serve" in err


def _vanish_after(fake: FakeSoundDevice, which: str, after_s: float) -> None:
    def run():
        time.sleep(after_s)
        (fake.inputs if which == "input" else fake.outputs)[0].vanish()

    threading.Thread(target=run, daemon=True).start()


@pytest.mark.parametrize("which, what", [("input", "microphone"), ("output", "speaker")])
def test_a_device_that_vanishes_mid_session_ends_listen_with_one_clear_message(monkeypatch, capsys, which, what):
    """The sound server stopped under a running `listen` (tried with pulseaudio: PortAudio ends both streams
    and calls their finished callbacks): exit 3 at once with a message naming the stream, not a hang."""
    import voice_livemind.pipeline as pipeline

    fake = FakeSoundDevice(np.concatenate([silence(0.3), tone(1.5), silence(30.0)]))
    monkeypatch.setattr(devices, "import_sounddevice", lambda: fake)
    monkeypatch.setattr(pipeline, "load_backends", lambda *a: fast_backends(RealClock()))
    _vanish_after(fake, which, 0.5)
    started = time.monotonic()
    assert cli.main(["listen", "--mode", "direct"]) == cli.EXIT_AUDIO
    assert time.monotonic() - started < 5.0
    err = capsys.readouterr().err
    assert f"audio error: the {what} stream stopped (the sound server or the device went away)" in err
    assert "listen stopped after" in err and "voice-livemind devices" in err


def test_a_microphone_that_stalls_counts_as_lost():
    fake = FakeSoundDevice()
    source = LiveSource(RealClock())
    mic = devices.Microphone(fake, source)
    mic.lost.stall_s = 0.2
    assert mic.lost.reason() is None  # not started: no callback yet, nothing to judge
    with mic:
        time.sleep(0.1)
        assert mic.lost.reason() is None  # callbacks arrive every 30 ms
        fake.inputs[0]._stop.set()  # the callback stops coming without the stream ending
        time.sleep(0.4)
        assert "microphone delivered nothing for" in mic.lost.reason()
    assert mic.lost.reason() is None  # stopped by us: not lost


def test_the_speaker_does_not_wait_to_drain_into_a_vanished_stream():
    fake = FakeSoundDevice()
    sink = SpeakerSink(fake, 22050)
    fake.outputs[0].vanish()
    sink.write(np.full(22050 * 5, 0.2, np.float32), 22050)  # 5 s that will never play
    started = time.monotonic()
    sink.close(drain_timeout_s=10.0)
    assert time.monotonic() - started < 1.0
    assert sink.lost.reason() == "the speaker stream stopped (the sound server or the device went away)"
