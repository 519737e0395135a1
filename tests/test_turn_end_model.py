"""The end of a turn with an end-of-turn model (vad.end_model: smart_turn), with fakes on a virtual clock.

A pause of vad.min_silence_ms asks the model; p(complete) >= vad.end_threshold ends the turn when its answer
comes back (the model's cost is a job on the "turn" lane, slept on the virtual clock); otherwise the pause
ends the turn only after vad.max_silence_ms. And the noise rules: a turn in which recognition heard no word
for vad.no_words_s ends, and a turn without words gets no answer."""

import numpy as np
import pytest

from tests.fakes import FakeTTS, ListSink, ScriptedASR, ScriptedChatModel, energy_vad, silence, tone
from voice_livemind import events as ev
from voice_livemind.clock import VirtualClock
from voice_livemind.config import VADConfig, load_config
from voice_livemind.metrics import turn_latency
from voice_livemind.pipeline import Backends, Pipeline
from voice_livemind.vad import Endpointer

S, N = True, False
FRAME = np.zeros(480, dtype=np.float32)


class Scripted:
    def __init__(self, decisions):
        self._decisions = iter(decisions)

    def __call__(self, samples):
        return next(self._decisions)


def endpointer(decisions, **vad):
    config = VADConfig(**{"min_silence_ms": 200, "max_silence_ms": 1500, "end_threshold": 0.5, **vad})
    return Endpointer(config, Scripted(decisions), end_model=True)


def test_a_pause_asks_once_at_min_silence_and_a_finished_verdict_ends_it():
    ep = endpointer([S] * 10 + [N] * 60)
    asked = []
    for i in range(20):
        boundary = ep.push(i * 0.03, FRAME)
        assert boundary is None or boundary.kind == "start"
        question = ep.take_question()
        if question is not None:
            asked.append((i, question))
    (index, question), = asked  # once, in the 7th silent frame (7 x 30 ms >= 200 ms)
    assert index == 16 and question.audio_t == pytest.approx(17 * 0.03)
    assert ep.verdict(question, 0.49) is None and ep.in_speech  # not finished: the pause goes on
    boundary = ep.verdict(question, 0.9)
    assert boundary.kind == "end" and boundary.reason == "end_model"
    assert boundary.audio_t == pytest.approx(10 * 0.03)  # the end of speech, not of the pause
    assert not ep.in_speech and ep.last_p == 0.9


def test_without_a_finished_verdict_the_pause_ends_at_max_silence():
    ep = endpointer([S] * 10 + [N] * 60)
    ends = [(i, b) for i in range(70) if (b := ep.push(i * 0.03, FRAME)) is not None]
    assert [(i, b.reason) for i, b in ends][-1] == (59, "max_silence")  # 50 frames = 1.5 s of silence


def test_a_verdict_from_an_earlier_pause_is_ignored():
    # speech, a 240 ms pause (asked), speech again, then silence
    ep = endpointer([S] * 10 + [N] * 8 + [S] * 5 + [N] * 5)
    questions = []
    for i in range(28):
        ep.push(i * 0.03, FRAME)
        questions += [q] if (q := ep.take_question()) else []
    assert len(questions) == 1 and ep.in_speech
    assert ep.verdict(questions[0], 0.99) is None  # the user went on after that pause
    assert ep.in_speech


def test_a_pause_that_did_not_sound_finished_is_asked_again_every_interval():
    ep = endpointer([S] * 10 + [N] * 60, end_model_every_ms=300)
    asked = []
    for i in range(40):
        ep.push(i * 0.03, FRAME)
        if (question := ep.take_question()) is not None:
            asked.append((i, question))
    # at 200 ms of silence, then every 10 frames (300 ms) while the pause lasts
    assert [i for i, _ in asked] == [16, 26, 36]
    first, second, third = (q for _, q in asked)
    assert ep.verdict(first, 0.1) is None and ep.verdict(second, 0.3) is None and ep.in_speech
    boundary = ep.verdict(third, 0.8)  # the longer pause sounds finished: the end of speech, as before
    assert boundary.reason == "end_model" and boundary.audio_t == pytest.approx(10 * 0.03)
    once = endpointer([S] * 10 + [N] * 60)  # the default: once per pause
    assert sum(once.push(i * 0.03, FRAME) is None and once.take_question() is not None for i in range(40)) == 1


def test_silence_alone_without_a_model_keeps_the_hangover():
    config = VADConfig(hangover_ms=600, min_silence_ms=200, max_silence_ms=1500)
    ep = Endpointer(config, Scripted([S] * 10 + [N] * 30))
    ends = [(i, b.reason) for i in range(40) if (b := ep.push(i * 0.03, FRAME)) is not None]
    assert ends[-1] == (29, "vad") and ep.take_question() is None


# -- the pipeline ---------------------------------------------------------------------------------------
QUESTION = [(0.3, 0.6, " What"), (0.6, 0.8, " is"), (0.8, 1.0, " two"), (1.0, 1.4, " plus"), (1.4, 1.7, " two?")]


class FakeEndModel:
    """p(complete) by how much audio it hears (a script of (min seconds, p)); sleeps its cost."""

    def __init__(self, clock, p, cost_s=0.05):
        self.clock, self.p, self.cost_s = clock, p, cost_s
        self.heard: list[float] = []

    def __call__(self, audio):
        self.clock.sleep(self.cost_s)
        self.heard.append(audio.size / 16000)
        return self.p(audio.size / 16000) if callable(self.p) else self.p


def run(audio, p, script=QUESTION, asr_cost=0.3, mode="livemind", **overrides):
    # The timelines below are worked out for a pass 100 ms into a pause (the default waits 200 ms).
    overrides = {"asr.pause_pass_ms": 100, **overrides}
    config = load_config(overrides=[f"{k}={v}" for k, v in overrides.items()])
    clock = VirtualClock()
    model = FakeEndModel(clock, p) if p is not None else None
    backends = Backends(is_speech=energy_vad, asr=ScriptedASR(clock, script, cost_s=asr_cost),
                        inference_model=ScriptedChatModel(clock, ["action wait."], prefill_s=0.1, per_token_s=0.05),
                        answer_model=ScriptedChatModel(clock, ["It is four."], prefill_s=0.2, per_token_s=0.05),
                        tts=FakeTTS(clock, cost_s=0.05), end_of_turn=model)
    events = Pipeline(config, backends, clock, ListSink(), mode=mode).run(audio)
    return events, model


def of(events, cls):
    return [e for e in events if isinstance(e, cls)]


def question(pause_s=None):  # speech 0.51-2.01 s (and after a pause, 1.5 s more), then 2.5 s of silence
    parts = [silence(0.51), tone(1.5)]
    if pause_s is not None:
        parts += [silence(pause_s), tone(1.5)]
    return np.concatenate(parts + [silence(2.5)])


def test_a_finished_turn_ends_after_min_silence_plus_the_models_cost():
    events, model = run(question(), p=0.9)
    ended = of(events, ev.SpeechEnded)[0]
    assert ended.reason == "end_model" and ended.audio_t == pytest.approx(2.01)
    # asked once 7 frames (210 ms) into the pause, answered 50 ms later on its lane
    checked = of(events, ev.EndOfTurnChecked)
    assert len(checked) == 1 and checked[0].ended and checked[0].p_complete == 0.9
    assert checked[0].audio_t == pytest.approx(2.01 + 0.21)
    assert ended.t == pytest.approx(2.01 + 0.21 + 0.05)
    # the model heard the utterance from its start less the 300 ms pre-roll
    assert model.heard == [pytest.approx(2.22 - 0.51 + 0.3)]
    assert turn_latency(events, 1)["eou_detected_s"] == pytest.approx(0.26)
    assert of(events, ev.AnswerDone)[0].text == "It is four."


def test_an_unfinished_sounding_pause_is_not_cut_and_the_turn_ends_at_max_silence():
    # a 0.9 s pause inside the turn: silence alone (600 ms) cuts it, the model (p = 0.1) does not. (The words
    # before the pause end in "?": the question rule, off here, would end the turn 600 ms into the pause.)
    events, _ = run(question(pause_s=0.9), p=0.1, **{"answer.speculative": "false", "vad.question_end_ms": "0"})
    ends = of(events, ev.SpeechEnded)
    assert len(ends) == 1 and ends[0].reason == "max_silence"
    assert ends[0].audio_t == pytest.approx(0.51 + 1.5 + 0.9 + 1.5)
    assert ends[0].t == pytest.approx(ends[0].audio_t + 1.5)
    assert len(of(events, ev.EndOfTurnChecked)) == 2 and not any(c.ended for c in of(events, ev.EndOfTurnChecked))
    cut, _ = run(question(pause_s=0.9), p=None, **{"answer.speculative": "false"})
    assert len(of(cut, ev.SpeechEnded)) == 2  # silence alone: the pause ended the first turn
    none, _ = run(question(pause_s=0.9), p=0.9, **{"vad.end_model": "none", "answer.speculative": "false"})
    assert len(of(none, ev.SpeechEnded)) == 2 and not of(none, ev.EndOfTurnChecked)  # the config switch


def test_the_speculative_answer_starts_in_the_pause_and_is_released_at_max_silence():
    events, _ = run(question(), p=0.1, **{"vad.question_end_ms": "0"})
    names = [e.kind for e in events]
    assert names.index("SpeculationStarted") < names.index("SpeechEnded") < names.index("SpeculationUsed")
    ended = of(events, ev.SpeechEnded)[0]
    assert ended.reason == "max_silence"
    started = of(events, ev.SpeculationStarted)[0]
    assert started.t < ended.t - 1.0  # it did not wait for the end decision
    assert all(e.t >= ended.t for e in of(events, ev.TTSAudio))  # nothing said before the end


def test_a_model_that_says_not_yet_then_finished_later_pause():
    # first pause (0.4 s): the model hears < 2.5 s and says 0.2; the final pause: it says 0.95
    events, _ = run(question(pause_s=0.4), p=lambda heard: 0.95 if heard > 3 else 0.2)
    ends = of(events, ev.SpeechEnded)
    assert len(ends) == 1 and ends[0].reason == "end_model"
    assert [c.ended for c in of(events, ev.EndOfTurnChecked)] == [False, True]


def test_noise_without_words_ends_the_turn_after_no_words_s_and_is_not_answered():
    # 25 s of "speech" that recognition hears no word in: turns of at most 10 s (+ one pass), no answer
    noise = np.concatenate([silence(0.51), tone(25.0), silence(1.0)])
    events, _ = run(noise, p=0.1, script=[])
    ends = of(events, ev.SpeechEnded)
    assert [e.reason for e in ends][:2] == ["no_words", "no_words"]
    starts = of(events, ev.SpeechStarted)
    for start, end in zip(starts, ends):
        assert end.t - start.audio_t <= 10.0 + 0.7 + 0.3 + 1e-6  # no_words_s, a pass interval, its cost
    assert not of(events, ev.AnswerStarted) and not of(events, ev.SpeculationStarted)
    assert len(of(events, ev.TurnDone)) == len(starts)


def test_a_transcript_of_punctuation_alone_gets_no_answer():
    events, _ = run(question(), p=0.9, script=[(0.3, 1.5, " .")])
    assert of(events, ev.SpeechEnded) and of(events, ev.TurnDone)
    assert not of(events, ev.AnswerStarted) and not of(events, ev.SpeculationStarted)


def test_no_words_rule_off():
    noise = np.concatenate([silence(0.51), tone(12.0), silence(2.0)])
    events, _ = run(noise, p=0.1, script=[], **{"vad.no_words_s": 0})
    assert [e.reason for e in of(events, ev.SpeechEnded)] == ["max_silence"]


def test_config_checks():
    from voice_livemind.config import ConfigError

    with pytest.raises(ConfigError, match="min_silence_ms"):
        load_config(overrides=["vad.min_silence_ms=2000"])
    with pytest.raises(ConfigError, match="end_threshold"):
        load_config(overrides=["vad.end_threshold=1.5"])
    with pytest.raises(ConfigError, match="vad.end_model"):
        load_config(overrides=["vad.end_model=llm"])
    with pytest.raises(ConfigError, match="vad.confirm"):
        load_config(overrides=["vad.confirm=yes"])


# -- a turn the model ended too early resumes --------------------------------------------------------
FOLLOW_UP = [(2.3, 2.6, " And"), (2.6, 3.0, " three?")]


def test_speech_before_the_answer_is_heard_resumes_the_turn_the_model_ended():
    # "What is two plus two?" (p = 0.9: finished), a 0.4 s pause, "And three?": the model ends the turn
    # in the pause, the user goes on before any answer audio: the same turn goes on and is answered once.
    events, _ = run(question(pause_s=0.4), p=0.9, script=QUESTION + FOLLOW_UP, **{"answer.speculative": "false"})
    ends = of(events, ev.SpeechEnded)
    assert [e.reason for e in ends] == ["end_model", "end_model"]
    resumed = of(events, ev.TurnResumed)
    assert len(resumed) == 1 and resumed[0].turn == 1 and ends[0].t < resumed[0].t < ends[1].t
    assert resumed[0].audio_t == pytest.approx(0.51 + 1.5 + 0.4, abs=0.031)
    assert {e.turn for e in events} == {1} and not of(events, ev.BargeIn)
    assert [e.turn for e in of(events, ev.TurnDone)] == [1]  # the dropped answer reports nothing
    assert all(e.t > ends[1].t for e in of(events, ev.TTSAudio))  # nothing was said before the real end
    final = [e for e in of(events, ev.TranscriptUpdate) if e.final][-1]
    assert final.stable == "What is two plus two? And three?"
    assert of(events, ev.AnswerDone)[-1].text == "It is four."
    latency = turn_latency(events, 1, true_speech_end=0.51 + 1.5 + 0.4 + 1.5)
    assert latency["eou_detected_s"] == pytest.approx(0.26, abs=0.031)  # from the last end (frame-aligned)


def test_without_resume_the_user_going_on_is_a_barge_in():
    events, _ = run(question(pause_s=0.4), p=0.9, script=QUESTION + FOLLOW_UP,
                    **{"answer.speculative": "false", "vad.resume": "false"})
    assert not of(events, ev.TurnResumed) and len(of(events, ev.BargeIn)) == 1
    assert [e.turn for e in of(events, ev.TurnDone)] == [1, 2]


def test_a_turn_ended_by_the_model_then_a_short_sound_at_the_end_of_input_is_answered_and_the_run_ends():
    # The model ends the turn 0.26 s into the pause; a 90 ms sound follows (too short to interrupt) and the
    # input ends on it. The endpointer's last speech is then that sound, which never went into the turn's
    # buffer: the final pass must not wait for a pass to hear it (a real 60 s lecture cut mid-word ran final
    # passes forever).
    import threading

    audio = np.concatenate([silence(0.51), tone(1.5), silence(0.4), tone(0.09)])
    result = {}
    worker = threading.Thread(target=lambda: result.update(out=run(audio, p=0.9)), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "the run did not end"
    events, _ = result["out"]
    assert of(events, ev.SpeechEnded)[0].reason == "end_model"
    assert of(events, ev.AnswerDone)[0].text == "It is four." and events[-1].kind == "TurnDone"


def test_a_transcript_ending_in_a_question_mark_ends_the_turn_after_question_end_ms():
    # the model says "not finished" (p = 0.1, as smart-turn does at most ends of synthetic speech), but the
    # pass in the pause heard "...?": 600 ms of silence end the turn instead of 1.5 s, the speculative answer
    # started in the pause is released then
    events, _ = run(question(), p=0.1)
    ended = of(events, ev.SpeechEnded)[0]
    assert ended.reason == "question"
    assert ended.t == pytest.approx(ended.audio_t + 0.6, abs=0.031)
    names = [e.kind for e in events]
    assert names.index("SpeculationStarted") < names.index("SpeechEnded") < names.index("SpeculationUsed")
    slow, _ = run(question(), p=0.1, **{"vad.question_end_ms": "0"})
    assert of(slow, ev.SpeechEnded)[0].t - ended.t == pytest.approx(0.9, abs=0.031)


# -- the resume window: a fast answer is not heard while the user may still go on -----------------------
def test_a_fast_answer_inside_a_short_pause_cuts_the_user_off_without_the_resume_window():
    # the end model ends the turn 260 ms into a 0.4 s pause and the answer's audio is ready 0.4 s later
    # (a 50 ms pass): without the window it is heard before the user goes on, who then barges in on it
    # (seen on spoken multiple-choice questions read by Piper: answered after option E)
    fast = dict(script=QUESTION + FOLLOW_UP, asr_cost=0.05, **{"answer.speculative": "false"})
    cut, _ = run(question(pause_s=0.4), p=0.9, **fast, **{"vad.resume_window_ms": "0"})
    assert of(cut, ev.TTSAudio)[0].t < of(cut, ev.BargeIn)[0].t and not of(cut, ev.TurnResumed)
    assert [e.turn for e in of(cut, ev.TurnDone)] == [1, 2]
    events, _ = run(question(pause_s=0.4), p=0.9, **fast)  # the default window, 600 ms
    assert len(of(events, ev.TurnResumed)) == 1 and not of(events, ev.BargeIn)
    assert [e.turn for e in of(events, ev.TurnDone)] == [1]
    last_end = of(events, ev.SpeechEnded)[-1]
    assert all(e.t > last_end.t for e in of(events, ev.TTSAudio))
    assert of(events, ev.AnswerDone)[-1].text == "It is four."


def test_the_answer_is_heard_once_the_window_after_the_speech_has_passed():
    events, _ = run(question(), p=0.9, asr_cost=0.05, **{"vad.resume_window_ms": "800"})
    ended = of(events, ev.SpeechEnded)[0]
    audio = of(events, ev.TTSAudio)
    assert ended.reason == "end_model" and ended.t < ended.audio_t + 0.8  # decided inside the window
    assert audio[0].t == pytest.approx(ended.audio_t + 0.8)  # heard when it closes, not before
    assert of(events, ev.TurnDone)[-1].turn == 1 and events[-1].kind == "TurnDone"
    sooner, _ = run(question(), p=0.9, asr_cost=0.05, **{"vad.resume_window_ms": "0"})
    assert of(sooner, ev.TTSAudio)[0].t < ended.audio_t + 0.8


def test_a_short_sound_inside_the_window_holds_the_answer_until_it_is_ignored():
    # 60 ms of sound 0.35 s into the pause (too short to resume the turn): the answer waits for the verdict on
    # it, then is heard; one turn, no resume
    audio = np.concatenate([silence(0.51), tone(1.5), silence(0.35), tone(0.12), silence(2.5)])
    events, _ = run(audio, p=0.9, asr_cost=0.05)
    ignored = of(events, ev.BargeInIgnored)
    assert len(ignored) == 1 and not of(events, ev.TurnResumed)
    assert of(events, ev.TTSAudio)[0].t >= ignored[0].t
    assert [e.turn for e in of(events, ev.TurnDone)] == [1]


def test_after_a_resume_the_end_model_hears_the_whole_turn_not_only_what_followed():
    # it had heard only the speech since the resume: 1.5 s of "And three?" alone sounded finished to
    # smart-turn (p 0.92 on a Piper question where the whole turn gave 0.11)
    events, model = run(question(pause_s=0.4), p=0.9, script=QUESTION + FOLLOW_UP, **{"answer.speculative": "false"})
    assert len(of(events, ev.TurnResumed)) == 1 and len(model.heard) == 2
    first, second = model.heard
    assert second == pytest.approx(first + 0.4 + 1.5, abs=0.031)  # from the turn's start, as the first did
