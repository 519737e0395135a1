"""Endpointer state machine on scripted per-frame decisions, and the real webrtcvad classifier."""

from types import SimpleNamespace

import numpy as np
import pytest

from voice_livemind.config import VADConfig
from voice_livemind.vad import Boundary, Endpointer, WebRtcClassifier


class Scripted:
    """is_speech that returns the next scripted decision, whatever the samples."""

    def __init__(self, decisions):
        self._decisions = iter(decisions)

    def __call__(self, samples):
        return next(self._decisions)


def run(decisions, frame_ms=30, speech_start_ms=90, hangover_ms=600):
    """Feed one frame per decision at t = i * frame_s; return (endpointer, [(frame index, boundary)])."""
    config = VADConfig(frame_ms=frame_ms, speech_start_ms=speech_start_ms, hangover_ms=hangover_ms)
    endpointer = Endpointer(config, Scripted(decisions))
    frame_s = frame_ms / 1000
    samples = np.zeros(16000 * frame_ms // 1000, dtype=np.float32)
    events = []
    for i in range(len(decisions)):
        boundary = endpointer.push(i * frame_s, samples)
        if boundary is not None:
            events.append((i, boundary))
    return endpointer, events


S, N = True, False


def test_silence_gives_nothing():
    endpointer, events = run([N] * 50)
    assert events == []
    assert endpointer.in_speech is False
    assert endpointer.end_of_input() is None


def test_start_after_speech_start_ms_of_consecutive_speech():
    # 90 ms / 30 ms = 3 frames; speech from frame 5
    endpointer, events = run([N] * 5 + [S] * 3)
    assert len(events) == 1
    index, boundary = events[0]
    assert index == 7  # the third speech frame
    assert boundary.kind == "start" and boundary.reason == "vad"
    assert boundary.audio_t == pytest.approx(5 * 0.030)  # the first frame of the run
    assert endpointer.in_speech is True


def test_two_frames_do_not_start():
    endpointer, events = run([N] * 5 + [S] * 2 + [N] * 10)
    assert events == []
    assert endpointer.in_speech is False


def test_single_frame_click_does_not_start():
    _, events = run([N, S, N, N, S, N, N, S, N] * 5)
    assert events == []


def test_interrupted_run_restarts_the_count():
    # S S N S S S: the first run is too short; the second run starts the turn at frame 3
    _, events = run([S, S, N, S, S, S])
    assert [(i, b.kind) for i, b in events] == [(5, "start")]
    assert events[0][1].audio_t == pytest.approx(3 * 0.030)


def test_short_pause_inside_speech_does_not_end_the_turn():
    # 600 ms / 30 ms = 20 frames of hangover; a 19-frame pause is not enough
    decisions = [S] * 10 + [N] * 19 + [S] * 10
    endpointer, events = run(decisions)
    assert [b.kind for _, b in events] == ["start"]
    assert endpointer.in_speech is True


def test_end_fires_exactly_when_hangover_accumulates():
    decisions = [N] * 4 + [S] * 10 + [N] * 25
    endpointer, events = run(decisions)
    assert [(i, b.kind) for i, b in events] == [(6, "start"), (14 + 19, "end")]
    end = events[1][1]
    assert end == Boundary("end", pytest.approx(14 * 0.030), "vad")
    # end of the last speech frame (frame 13 starts at 0.39 s and lasts 30 ms)
    assert end.audio_t == pytest.approx(0.42)
    assert endpointer.in_speech is False


def test_end_is_after_the_last_speech_frame_even_after_a_short_pause():
    decisions = [S] * 5 + [N] * 10 + [S] * 2 + [N] * 20
    _, events = run(decisions)
    assert [(i, b.kind) for i, b in events] == [(2, "start"), (16 + 20, "end")]
    assert events[1][1].audio_t == pytest.approx(17 * 0.030)


def test_second_turn_after_an_end():
    decisions = [S] * 3 + [N] * 20 + [N] * 5 + [S] * 3 + [N] * 20
    _, events = run(decisions)
    assert [(i, b.kind) for i, b in events] == [(2, "start"), (22, "end"), (30, "start"), (50, "end")]
    assert events[1][1].audio_t == pytest.approx(0.090)
    assert events[2][1].audio_t == pytest.approx(28 * 0.030)
    assert events[3][1].audio_t == pytest.approx(31 * 0.030)


def test_end_of_input_while_in_speech():
    endpointer, events = run([N] * 2 + [S] * 6 + [N] * 3)
    assert [b.kind for _, b in events] == ["start"]
    boundary = endpointer.end_of_input()
    assert boundary == Boundary("end", pytest.approx(8 * 0.030), "end_of_input")
    assert endpointer.in_speech is False
    assert endpointer.end_of_input() is None  # already closed


def test_end_of_input_when_idle_after_a_finished_turn():
    endpointer, events = run([S] * 3 + [N] * 20)
    assert [b.kind for _, b in events] == ["start", "end"]
    assert endpointer.end_of_input() is None


def test_end_of_input_during_an_unconfirmed_run_is_none():
    endpointer, events = run([S, S])
    assert events == []
    assert endpointer.end_of_input() is None


@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_frame_sizes(frame_ms):
    # 60 ms start and 300 ms hangover divide evenly into 10, 20 and 30 ms frames
    start_frames, end_frames = 60 // frame_ms, 300 // frame_ms
    frame_s = frame_ms / 1000
    lead = 7
    speech = start_frames + 5
    decisions = [N] * lead + [S] * (start_frames - 1) + [N] + [S] * speech + [N] * (end_frames + 3)
    _, events = run(decisions, frame_ms=frame_ms, speech_start_ms=60, hangover_ms=300)
    first_speech = lead + start_frames  # the interrupted short run does not count
    last_speech = first_speech + speech - 1
    assert [(i, b.kind) for i, b in events] == [
        (first_speech + start_frames - 1, "start"),
        (last_speech + end_frames, "end"),
    ]
    assert events[0][1].audio_t == pytest.approx(first_speech * frame_s)
    assert events[1][1].audio_t == pytest.approx((last_speech + 1) * frame_s)


@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_frame_sizes_one_frame_short_of_hangover(frame_ms):
    end_frames = 300 // frame_ms
    decisions = [S] * 10 + [N] * (end_frames - 1)
    endpointer, events = run(decisions, frame_ms=frame_ms, speech_start_ms=60, hangover_ms=300)
    assert [b.kind for _, b in events] == ["start"]
    assert endpointer.in_speech is True


# --- the real webrtcvad classifier -------------------------------------------------------------------


@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_webrtc_digital_silence_is_never_speech(frame_ms):
    classifier = WebRtcClassifier(aggressiveness=2, frame_ms=frame_ms)
    n = 16000 * frame_ms // 1000
    audio = np.zeros(16000, dtype=np.float32)
    decisions = [classifier(audio[i : i + n]) for i in range(0, len(audio) - n + 1, n)]
    assert len(decisions) == 1000 // frame_ms
    assert not any(decisions)


def test_webrtc_takes_16k_float32_frames_beyond_full_scale_and_returns_bools():
    # settle_ms=0: every decision is webrtcvad's own (a fresh classifier answers False while it settles)
    classifier = WebRtcClassifier(aggressiveness=2, frame_ms=30, settle_ms=0)
    vad, heard = classifier._vad, []
    classifier._vad = SimpleNamespace(is_speech=lambda data, rate: heard.append(data) or vad.is_speech(data, rate))
    t = np.arange(480 * 20) / 16000
    voiced = 1.5 * sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 15))  # peaks at 2.6: clipped
    audio = np.concatenate([np.zeros(4800), voiced, np.zeros(4800)]).astype(np.float32)
    frames = [audio[i : i + 480] for i in range(0, len(audio), 480)]
    decisions = [classifier(frame) for frame in frames]
    assert all(type(d) is bool for d in decisions)
    assert decisions[:10] == [False] * 10 and all(decisions[12:30])  # silence, then the loud voiced sound
    # webrtcvad hears each frame as 16-bit PCM, scaled by 32768 and clipped to full scale (not wrapped)
    assert heard == [np.clip(np.round(f * 32768.0), -32768, 32767).astype("<i2").tobytes() for f in frames]


def test_webrtc_in_an_endpointer_on_silence():
    config = VADConfig()
    classifier = WebRtcClassifier(config.aggressiveness, config.frame_ms)
    endpointer = Endpointer(config, classifier)
    n = 16000 * config.frame_ms // 1000
    boundaries = [endpointer.push(i * n / 16000, np.zeros(n, dtype=np.float32)) for i in range(33)]
    assert boundaries == [None] * 33
    assert endpointer.end_of_input() is None


@pytest.mark.parametrize("amplitude", [0.001, 0.003, 0.01])
def test_webrtc_fresh_vad_does_not_call_faint_noise_speech(amplitude):
    import webrtcvad

    rng = np.random.default_rng(0)
    noise = rng.uniform(-amplitude, amplitude, 480 * 20).astype(np.float32)
    frames = [noise[i * 480 : (i + 1) * 480] for i in range(20)]
    raw = webrtcvad.Vad(2)
    raw_decisions = [raw.is_speech((f * 32767).astype("<i2").tobytes(), 16000) for f in frames]
    assert any(raw_decisions[:5])  # the trap: a fresh Vad calls its first frames of faint noise speech
    classifier = WebRtcClassifier(aggressiveness=2, frame_ms=30)
    assert not any(classifier(f) for f in frames)
