"""The end of a turn on a virtual clock: notes that yield to it (preemptive schedule), the pass in the
pause that makes the final pass unnecessary, and the speculative answer (used, and discarded)."""

import numpy as np
import pytest

from tests.fakes import FakeTTS, ListSink, ScriptedASR, ScriptedChatModel, energy_vad, silence, tone
from voice_livemind import events as ev
from voice_livemind.clock import VirtualClock
from voice_livemind.config import load_config
from voice_livemind.metrics import turn_latency
from voice_livemind.pipeline import Backends, Pipeline

# Word times are relative to the recognition buffer, which starts with 300 ms of pre-roll before the speech.
# Speech 0.51-3.51 s: the buffer holds it from 0.3 to 3.3 s.
QUESTION = [(0.3, 0.6, " What"), (0.6, 0.8, " is"), (0.8, 1.0, " two"), (1.0, 1.4, " plus"), (1.4, 1.7, " two?"),
            (1.8, 2.1, " Please"), (2.1, 2.5, " answer")]
QUICKLY = [(2.5, 2.9, " quickly.")]
# After a 0.45 s pause, more speech (3.75-5.25 s in the buffer).
FOLLOW_UP = [(3.9, 4.2, " Or"), (4.2, 4.5, " three"), (4.5, 4.8, " plus"), (4.8, 5.1, " three?")]
NOTE = "action inference. The user asks for the sum of two small numbers."


def run(audio, script, note_s=0.05, mode="livemind", **overrides):
    # The timelines below are worked out for a pass 100 ms into a pause (the default waits 200 ms).
    overrides = {"asr.pause_pass_ms": 100, **overrides}
    config = load_config(overrides=[f"{k}={v}" for k, v in overrides.items()])
    clock = VirtualClock()
    answers = ScriptedChatModel(clock, ["It is four. Easy."], prefill_s=0.2, per_token_s=0.05)
    notes = ScriptedChatModel(clock, [NOTE], prefill_s=0.2, per_token_s=note_s)
    backends = Backends(is_speech=energy_vad, asr=ScriptedASR(clock, script, cost_s=0.3),
                        inference_model=notes, answer_model=answers, tts=FakeTTS(clock, cost_s=0.05))
    sink = ListSink()
    events = Pipeline(config, backends, clock, sink, mode=mode).run(audio)
    return events, backends, sink


def of(events, cls):
    return [e for e in events if isinstance(e, cls)]


def one_question():  # speech 0.51-3.51 s
    return np.concatenate([silence(0.51), tone(3.0), silence(2.0)])


def question_pause_follow_up(pause_s=0.45):  # speech 0.51-3.51 s, a pause, 1.5 s of speech
    return np.concatenate([silence(0.51), tone(3.0), silence(pause_s), tone(1.5), silence(2.0)])


@pytest.mark.parametrize("schedule", ["sequential", "preemptive"])
def test_a_note_running_at_the_end_yields_with_the_preemptive_schedule(schedule):
    # Notes of 0.5 s a token: one starts as the question closes and would run for seconds.
    events, _, _ = run(one_question(), QUESTION + QUICKLY, note_s=0.5, **{"livemind.schedule": schedule,
                                                                "answer.speculative": "false"})
    ended = of(events, ev.SpeechEnded)[0]
    assert ended.t - ended.audio_t == pytest.approx(0.6)  # the VAD decides beside the lanes, on time
    answer_wait = of(events, ev.AnswerStarted)[0].t - ended.t
    if schedule == "sequential":
        assert answer_wait > 1.0  # the paper's schedule: the note runs to its end first
        assert not of(events, ev.NoteYielded)
    else:
        # it yields at its next token (0.5 s at most) and the answer starts at once
        assert answer_wait <= 0.5 + 1e-6
        assert of(events, ev.NoteYielded) and all(n.t < ended.t for n in of(events, ev.Note))
    assert of(events, ev.TurnDone)


def test_a_speculative_answer_is_held_until_the_end_is_confirmed():
    events, _, sink = run(one_question(), QUESTION + QUICKLY)
    names = [e.kind for e in events]
    ended = of(events, ev.SpeechEnded)[0]
    assert names.index("SpeculationStarted") < names.index("SpeechEnded") < names.index("SpeculationUsed")
    assert of(events, ev.SpeculationStarted)[0].text == "What is two plus two? Please answer quickly."
    answer_output = of(events, ev.AnswerStarted) + of(events, ev.AnswerDelta) + of(events, ev.TTSAudio)
    assert answer_output and all(e.t >= ended.t for e in answer_output)  # nothing said before the end
    assert of(events, ev.AnswerStarted)[0].speculative
    assert len(sink.chunks) == len(of(events, ev.TTSAudio)) >= 1
    # Compared with the same run without speculation: the first audio comes sooner.
    plain, _, _ = run(one_question(), QUESTION + QUICKLY, **{"answer.speculative": "false"})
    assert turn_latency(events, 1)["first_audio_s"] < turn_latency(plain, 1)["first_audio_s"] - 0.1
    assert of(events, ev.AnswerDone)[0].text == of(plain, ev.AnswerDone)[0].text


@pytest.mark.parametrize("mode", ["direct", "baseline"])
def test_every_answering_mode_speculates_alike(mode):
    # Speculation is part of the shared end of the turn, not a LiveMind advantage: the modes without notes
    # start their answer in the pause too, and gain from it.
    events, _, _ = run(one_question(), QUESTION + QUICKLY, mode=mode)
    plain, _, _ = run(one_question(), QUESTION + QUICKLY, mode=mode, **{"answer.speculative": "false"})
    assert of(events, ev.SpeculationUsed) and of(events, ev.AnswerStarted)[0].speculative
    assert not of(plain, ev.SpeculationStarted)
    assert turn_latency(events, 1)["first_audio_s"] < turn_latency(plain, 1)["first_audio_s"] - 0.1


def test_speech_after_the_pause_discards_the_speculation():
    events, backends, sink = run(question_pause_follow_up(), QUESTION + QUICKLY + FOLLOW_UP)
    started, discarded = of(events, ev.SpeculationStarted), of(events, ev.SpeculationDiscarded)
    ended = of(events, ev.SpeechEnded)
    assert len(ended) == 1 and started[0].text == "What is two plus two? Please answer quickly."
    assert started[0].t < 3.51 + 0.45 + 0.03  # before the first frame of the follow-up had arrived
    assert discarded[0].reason == "speech" and 0 < discarded[0].compute_s <= 0.6
    assert discarded[0].t < ended[0].t
    # The answer that is said is the one to the whole turn; the discarded one left no trace.
    final = [e for e in of(events, ev.TranscriptUpdate) if e.final][0]
    assert final.stable == "What is two plus two? Please answer quickly. Or three plus three?"
    assert started[-1].text == final.stable and of(events, ev.SpeculationUsed)
    assert len(of(events, ev.AnswerStarted)) == 1 and len(of(events, ev.AnswerDone)) == 1
    assert all(e.t >= ended[0].t for e in of(events, ev.TTSAudio))
    assert "Or three plus three?" in backends.answer_model.calls[-1][-1]["content"]


def test_no_speculation_while_the_text_sounds_unfinished():
    events, _, _ = run(one_question(), QUESTION)
    assert not of(events, ev.SpeculationStarted)
    assert [e.stable for e in of(events, ev.TranscriptUpdate) if e.final] == ["What is two plus two? Please answer"]
    assert of(events, ev.AnswerDone)


def test_a_yielded_note_resumes_from_its_partial_reply():
    # 5 s of speech, a 0.45 s pause, more speech. A slow note about the first sentence is being written when
    # the pause comes: it yields to the pass that may hear the end of the turn (both cores for it). Speech
    # resumes, and the note goes on from its partial reply (prefilled, not generated again) for the same
    # segment.
    audio = np.concatenate([silence(0.51), tone(5.0), silence(0.45), tone(1.5), silence(2.0)])
    follow_up = [(start + 2.45, end + 2.45, word) for start, end, word in FOLLOW_UP]
    events, backends, _ = run(audio, QUESTION + QUICKLY + follow_up, note_s=0.25)
    yielded = [y for y in of(events, ev.NoteYielded) if y.partial != "action"]  # not stopped in its prefill
    assert yielded and yielded[0].partial.startswith("action inference.")
    assert 5.51 + 0.1 <= yielded[0].t <= 5.51 + 0.1 + 0.25 + 1e-6  # at its next token once the pause is 0.1 s
    prefixes = backends.inference_model.prefixes
    resumed = prefixes.index(yielded[0].partial)  # a later call started from it ...
    calls = backends.inference_model.calls
    assert resumed > 0 and calls[resumed][-1]["content"] == calls[resumed - 1][-1]["content"]  # ... same segment
    assert of(events, ev.Note)[0].t > yielded[0].t


def test_recognition_keeps_its_cadence_while_long_notes_run():
    # 8 s of speech, a sentence every 0.8 s, notes of 4 s each (0.2 s a token): the notes run on the model's
    # lane, recognition on its own, so a pass starts whenever one is due (every 0.7 s of audio).
    words = [(0.3 + 0.8 * i, 1.0 + 0.8 * i, f" Sentence number {i}.") for i in range(10)]
    audio = np.concatenate([silence(0.51), tone(8.0), silence(2.0)])
    events, _, _ = run(audio, words, note_s=0.2, **{"answer.speculative": "false"})
    ended = of(events, ev.SpeechEnded)[0]
    passes = [e for e in of(events, ev.TranscriptUpdate) if not e.final and e.t < ended.t]
    starts = [0.51] + [e.t - e.compute_s for e in passes]
    longest_gap = max(b - a for a, b in zip(starts, starts[1:]))
    assert longest_gap <= 0.7 + 0.03 + 1e-6  # the interval, rounded up to a frame
    notes = of(events, ev.Note)
    assert notes and any(n.compute_s > 2.0 for n in notes)  # and the long notes ran meanwhile
