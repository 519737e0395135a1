"""Endpointer refinements: the classifier's overhang counted as silence, pause length, transcript hold."""

import numpy as np
import pytest

from voice_livemind.config import VADConfig
from voice_livemind.vad import Endpointer, WebRtcClassifier
from voice_livemind.vad.endpointer import sounds_unfinished

S, N = True, False
FRAME = np.zeros(480, dtype=np.float32)


class Scripted:
    def __init__(self, decisions, overhang_ms=0):
        self._decisions = iter(decisions)
        if overhang_ms:
            self.overhang_ms = overhang_ms

    def __call__(self, samples):
        return next(self._decisions)


def feed(endpointer, count):
    """Push `count` more frames (30 ms each) and return the boundaries with their frame index."""
    out = []
    for _ in range(count):
        i = round(endpointer.position / 0.03)
        boundary = endpointer.push(i * 0.03, FRAME)
        if boundary is not None:
            out.append((i, boundary))
    return out


def test_classifier_overhang_counts_towards_the_hangover_and_moves_the_end_back():
    # 600 ms hangover = 20 frames; the classifier calls 3 frames (90 ms) after the speech speech too
    decisions = [S] * 10 + [N] * 30
    endpointer = Endpointer(VADConfig(hangover_ms=600), Scripted(decisions, overhang_ms=90))
    events = feed(endpointer, len(decisions))
    assert [(i, b.kind) for i, b in events] == [(2, "start"), (10 + 17 - 1, "end")]
    # "speech" really ended 3 frames before the last frame the classifier called speech
    assert events[1][1].audio_t == pytest.approx(0.30 - 0.09)


def test_end_of_input_during_speech_keeps_the_last_speech_frame():
    endpointer = Endpointer(VADConfig(), Scripted([S] * 8, overhang_ms=90))
    feed(endpointer, 8)
    assert endpointer.end_of_input().audio_t == pytest.approx(0.24)


def test_webrtc_overhang_per_mode_and_frame():
    assert WebRtcClassifier(2, 30).overhang_ms == 90
    assert WebRtcClassifier(3, 10).overhang_ms == 90
    assert WebRtcClassifier(0, 20).overhang_ms == 140


def test_pause_length_and_estimated_speech_end():
    endpointer = Endpointer(VADConfig(hangover_ms=600), Scripted([S] * 5 + [N] * 4 + [S], overhang_ms=90))
    feed(endpointer, 5)
    assert endpointer.pause_s == 0.0
    feed(endpointer, 4)
    assert endpointer.pause_s == pytest.approx((4 + 3) * 0.03)
    # the last 3 speech frames are the classifier's overhang: speech ended 2 frames in
    assert endpointer.speech_end == pytest.approx(2 * 0.03)
    feed(endpointer, 1)
    assert endpointer.pause_s == 0.0


@pytest.mark.parametrize("text,unfinished", [
    ("", False),
    ("What is the capital of France?", False),
    ("I love hiking and good food.", False),
    ("Which two cities should I stay in?", False),  # a question mark ends it, even after "in"
    ("I would like to order a large pizza with", True),
    ("I would like to order a large pizza with.", True),  # Whisper's period where the audio stopped
    ("mushrooms and...", True),
    ("black olives,", True),
    ("Please deliver it", True),  # no sentence punctuation
    ("The blue house on.", True),
    ("Maple Street.", False),  # cannot tell: a period after a noun ends it
])
def test_sounds_unfinished(text, unfinished):
    assert sounds_unfinished(text) is unfinished


def run_pause(hold_ms, transcript, pause_frames):
    config = VADConfig(hangover_ms=600, transcript_hold_ms=hold_ms)
    endpointer = Endpointer(config, Scripted([S] * 10 + [N] * pause_frames + [S] * 5))
    feed(endpointer, 10)
    endpointer.observe_transcript(transcript)
    return endpointer, feed(endpointer, pause_frames + 5)


def test_hold_keeps_an_unfinished_turn_through_a_long_pause():
    # a 750 ms pause: longer than the 600 ms hangover, shorter than hangover + 300 ms hold
    _, events = run_pause(300, "I need a flight to", 25)
    assert [b.kind for _, b in events] == []  # no end: the turn goes on
    _, events = run_pause(0, "I need a flight to", 25)
    assert [b.kind for _, b in events] == ["end", "start"]  # without the hold it is cut


def test_hold_does_not_delay_a_finished_sentence():
    _, events = run_pause(300, "I need a flight to Boston.", 25)
    assert [(i, b.kind) for i, b in events][0] == (10 + 19, "end")


def test_hold_ends_after_hangover_plus_hold():
    endpointer, events = run_pause(300, "and then", 40)
    assert [(i, b.kind) for i, b in events][0] == (10 + 29, "end")  # 20 + 10 frames of silence


def test_hold_is_cleared_by_a_new_turn_and_a_finished_transcript():
    config = VADConfig(hangover_ms=600, transcript_hold_ms=300)
    endpointer = Endpointer(config, Scripted([S] * 5 + [N] * 30 + [S] * 10))
    feed(endpointer, 5)
    endpointer.observe_transcript("so")
    assert endpointer.holding
    endpointer.observe_transcript("Fine.")
    assert not endpointer.holding
    endpointer.observe_transcript("so")
    assert endpointer.holding
    # 30 frames of silence = hangover + hold: the turn ends, and the next one starts without the hold
    events = feed(endpointer, 30 + 10)
    assert [b.kind for _, b in events] == ["end", "start"]
    assert endpointer.holding is False
    off = Endpointer(VADConfig(transcript_hold_ms=0), Scripted([]))
    off.observe_transcript("and")
    assert not off.holding  # the hold is off by default


# -- a question heard ends the turn after question_end_ms, whatever the end model says -----------------
def run_question_pause(transcript, question_ms=600, verdict=0.1, end_model=True):
    """10 frames of speech, the transcript, a 40-frame pause (1.2 s) in which the model (asked at 200 ms)
    says p = `verdict`; returns the end boundaries with their frame index."""
    config = VADConfig(min_silence_ms=200, max_silence_ms=1500, question_end_ms=question_ms)
    endpointer = Endpointer(config, Scripted([S] * 10 + [N] * 40), end_model=end_model)
    feed(endpointer, 10)
    endpointer.observe_transcript(transcript)
    events = feed(endpointer, 7)  # the question is asked after 200 ms of silence (7 frames)
    question = endpointer.take_question()
    if question is not None:
        boundary = endpointer.verdict(question, verdict)
        events += [(16, boundary)] if boundary else []
    return events + feed(endpointer, 33)


def test_a_question_ends_the_turn_after_question_end_ms_though_the_model_says_unfinished():
    events = run_question_pause("Which two cities should I stay in?")
    assert [(i, b.kind, b.reason) for i, b in events] == [(10 + 19, "end", "question")]  # 20 frames: 600 ms


def test_without_a_question_mark_the_unfinished_verdict_holds_to_max_silence():
    assert run_question_pause("I'm planning a trip to Japan.") == []  # 1.2 s < max_silence 1.5 s
    assert run_question_pause("Which two cities should I stay in?", question_ms=0) == []  # rule off


def test_the_model_still_ends_a_question_sooner_and_silence_alone_ignores_the_rule():
    events = run_question_pause("Which two cities should I stay in?", verdict=0.9)
    assert [(i, b.reason) for i, b in events] == [(16, "end_model")]
    # without the end model the 600 ms hangover decides, as it always did
    events = run_question_pause("Which two cities should I stay in?", end_model=False)
    assert [b.reason for _, b in events] == ["vad"]
