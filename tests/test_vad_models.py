"""The audio models of turn taking: smart-turn v3.2 (end of turn) and Silero VAD (speech), on real recordings.

Smart-turn is judged on real human speech only: on synthetic voices it says "not finished" at most ends."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voice_livemind.vad.silero import SileroConfirmed
from voice_livemind.vad.smart_turn import SAMPLE_RATE, last_window, log_mel

FIXTURES = Path(__file__).resolve().parent.parent / "audio_fixtures"
LECTURE = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech" / "lecture_en.wav"


def load(path):
    audio, rate = sf.read(str(path), dtype="float32")
    assert rate == SAMPLE_RATE
    return audio, json.loads(Path(path).with_suffix(".json").read_text())


def test_last_window_keeps_the_end_and_pads_the_start():
    short = np.arange(1, 11, dtype=np.float32)
    window = last_window(short)
    assert window.size == 8 * SAMPLE_RATE and not window[:-10].any() and (window[-10:] == short).all()
    long = np.arange(9 * SAMPLE_RATE, dtype=np.float32)
    assert (last_window(long) == long[-8 * SAMPLE_RATE:]).all()


def test_features_are_whisper_log_mel_of_the_normalised_8_s():
    from faster_whisper.feature_extractor import FeatureExtractor

    extractor = FeatureExtractor(feature_size=80, sampling_rate=SAMPLE_RATE, chunk_length=8)
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(3 * SAMPLE_RATE)).astype(np.float32)
    features = log_mel(audio, extractor)
    assert features.shape == (80, 800) and features.dtype == np.float32
    assert np.allclose(log_mel(audio * 10, extractor), features, atol=1e-4)  # the waveform is normalised first
    assert np.isfinite(features).all()
    assert features.min() >= features.max() - 2.0 - 1e-6  # Whisper's 8 log10 units of range, /4


class ScriptedSilero:
    def __init__(self, probs):
        self.probs = list(probs)
        self.probability = 0.0

    def push(self, samples):
        self.probability = self.probs.pop(0)
        return [self.probability]


def test_silero_confirms_webrtc_speech_and_holds_briefly():
    frame = np.zeros(480, dtype=np.float32)
    # webrtcvad calls every frame speech (noise); Silero hears speech only in frames 3-4
    confirmed = SileroConfirmed(lambda s: True, ScriptedSilero([0.1, 0.1, 0.1, 0.9, 0.8, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]),
                                threshold=0.5, hold_ms=90, frame_ms=30)
    assert [confirmed(frame) for _ in range(11)] == [False] * 3 + [True] * 4 + [False] * 4  # held 3 frames
    quiet = SileroConfirmed(lambda s: False, ScriptedSilero([0.9] * 3), threshold=0.5)
    assert not any(quiet(frame) for _ in range(3))  # Silero alone never makes speech: webrtcvad times it


@pytest.mark.integration
def test_smart_turn_on_real_speech_ends_vs_a_pause_inside_a_sentence():
    from voice_livemind.vad.smart_turn import SmartTurn

    model = SmartTurn()
    for name in ("real_example1", "real_example2", "real_example6"):
        audio, meta = load(FIXTURES / f"{name}.wav")
        speech = audio[: int(meta["speech_end"] * SAMPLE_RATE)]
        p = model(np.concatenate([speech, np.zeros(int(0.2 * SAMPLE_RATE), np.float32)]))
        assert p > 0.5, (name, p)  # finished, 200 ms into the silence
    if LECTURE.exists():
        lecture, meta = load(LECTURE)
        for (start, _), kind in zip(meta["pauses"], meta["pause_kinds"]):
            if start in (4.52, 19.52, 38.89):  # inside a sentence: "not finished"
                assert kind == "inside"
                assert model(lecture[: int((start + 0.2) * SAMPLE_RATE)]) < 0.2


@pytest.mark.integration
def test_silero_hears_speech_not_loud_noise():
    from voice_livemind.vad.endpointer import WebRtcClassifier
    from voice_livemind.vad.silero import SileroVAD

    noise, _ = load(FIXTURES / "noise_10s.wav")
    louder = noise * 2  # +6 dB: webrtcvad calls nearly all of it speech
    webrtc = WebRtcClassifier(2, 30)
    assert np.mean([webrtc(louder[i:i + 480]) for i in range(0, len(louder) - 479, 480)]) > 0.9
    silero = SileroVAD()
    assert max(silero.push(louder)) < 0.5
    confirmed = SileroConfirmed(WebRtcClassifier(2, 30), SileroVAD())
    assert not any(confirmed(louder[i:i + 480]) for i in range(0, len(louder) - 479, 480))
    speech, meta = load(FIXTURES / "real_example6.wav")
    silero.reset()
    probs = np.array(silero.push(speech))
    t = (np.arange(len(probs)) + 0.5) * 512 / SAMPLE_RATE
    inside = (t > meta["speech_start"] + 0.1) & (t < meta["speech_end"] - 0.1)
    assert np.mean(probs[inside] >= 0.5) > 0.9
