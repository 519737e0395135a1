"""Turn taking with the real audio models (webrtcvad, Silero VAD, smart-turn v3.2) on real recordings, the
rest of the pipeline faked on a virtual clock (the models' results are real, their cost is not counted)."""

import json
from pathlib import Path

import numpy as np
import pytest

from tests.fakes import FakeTTS, ListSink, ScriptedASR, ScriptedChatModel
from voice_livemind import events as ev
from voice_livemind.audio.source import load_audio
from voice_livemind.clock import VirtualClock
from voice_livemind.config import load_config
from voice_livemind.pipeline import Backends, Pipeline

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "audio_fixtures"
LECTURE = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech" / "lecture_en.wav"
RATE = 16000


def floor(seconds, rms=3e-4, seed=0):  # a quiet room: white noise at about -70 dBFS
    return (np.random.default_rng(seed).standard_normal(int(seconds * RATE)) * rms).astype(np.float32)


def run(audio, words=(), **overrides):
    from voice_livemind.vad.detectors import load_end_of_turn, speech_classifier

    config = load_config(overrides=[f"{k}={v}" for k, v in overrides.items()])
    clock = VirtualClock()
    backends = Backends(is_speech=speech_classifier(config.vad), asr=ScriptedASR(clock, list(words), cost_s=0.3),
                        inference_model=ScriptedChatModel(clock, ["action wait."], prefill_s=0.1),
                        answer_model=ScriptedChatModel(clock, ["An answer."], prefill_s=0.1),
                        tts=FakeTTS(clock), end_of_turn=load_end_of_turn(config.vad))
    return Pipeline(config, backends, clock, ListSink(), mode="direct").run(audio)


def of(events, cls):
    return [e for e in events if isinstance(e, cls)]


@pytest.mark.parametrize("name", ["real_example1", "real_example2", "real_example6"])
def test_a_finished_real_utterance_ends_after_a_short_silence(name):
    audio = load_audio(FIXTURES / f"{name}.wav")
    end = json.loads((FIXTURES / f"{name}.json").read_text())["speech_end"]
    events = run(np.concatenate([audio[: int(end * RATE)], floor(2.0)]), words=[(0.3, 1.0, " Words.")])
    ended = of(events, ev.SpeechEnded)
    assert len(ended) == 1 and ended[0].reason == "end_model"
    assert ended[0].detected_audio_t - end <= 0.3  # the 600 ms silence rule: 0.6 s at best
    assert of(events, ev.EndOfTurnChecked)[-1].p_complete >= 0.5


@pytest.mark.skipif(not LECTURE.exists(), reason="needs ../shared/data/speech/lecture_en.wav")
def test_a_real_pause_inside_a_sentence_is_not_cut():
    lecture = load_audio(LECTURE)
    # 2.8-6.5 s of the lecture: a 0.48 s pause inside a sentence at 4.52 s ("...", then it goes on)
    events = run(lecture[int(2.8 * RATE): int(6.5 * RATE)], words=[(0.3, 1.0, " Words")])
    inside = [e for e in of(events, ev.SpeechEnded) if 4.52 - 2.8 <= e.detected_audio_t <= 5.0 - 2.8 + 0.05]
    assert not inside
    asked = [c for c in of(events, ev.EndOfTurnChecked) if 4.52 - 2.8 <= c.audio_t <= 5.0 - 2.8]
    assert asked and all(c.p_complete < 0.5 and not c.ended for c in asked)
    # silence alone (the old 600 ms rule) is not asked anything
    assert not of(run(lecture[int(2.8 * RATE): int(6.5 * RATE)], **{"vad.end_model": "none"}), ev.EndOfTurnChecked)


def test_loud_noise_opens_no_turn_with_silero_and_no_answer_without_it():
    noise = load_audio(FIXTURES / "noise_10s.wav")
    loud = np.clip(np.tile(noise, 3) * 2.0, -1, 1).astype(np.float32)  # 30 s, +6 dB: webrtcvad calls it speech
    assert not of(run(loud), ev.SpeechStarted)
    events = run(loud, **{"vad.confirm": "none"})
    starts, ends = of(events, ev.SpeechStarted), of(events, ev.SpeechEnded)
    assert starts and "no_words" in {e.reason for e in ends}
    assert all(e.t - s.audio_t <= 11.0 for s, e in zip(starts, ends))  # no turn held open past ~10 s
    assert not of(events, ev.AnswerStarted)
