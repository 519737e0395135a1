"""The whole pipeline with fake backends on a virtual clock: event order and latency spans."""

import numpy as np
import pytest

from tests.fakes import FakeTTS, ListSink, ScriptedASR, ScriptedChatModel, energy_vad, silence, tone
from voice_livemind import events as ev
from voice_livemind.clock import VirtualClock
from voice_livemind.config import load_config
from voice_livemind.metrics import turn_latency
from voice_livemind.pipeline import Backends, Pipeline

# 0.51 s of silence, 3.0 s of "speech", 1.5 s of silence: frame-aligned at 30 ms so times are exact.
SPEECH_START, SPEECH_END = 0.51, 3.51
SCRIPT = [(0.3, 0.6, " What"), (0.6, 0.8, " is"), (0.8, 1.0, " two"), (1.0, 1.4, " plus"), (1.4, 1.6, " two?"),
          (1.7, 1.9, " Please"), (1.9, 2.3, " answer"), (2.3, 2.6, " quickly."), (2.7, 3.1, " Thanks.")]


def make_pipeline(mode, note_replies=("action inference. The user asks for a sum.",),
                  answer="Two plus two is four. The answer is four.", **overrides):
    config = load_config(overrides=[f"{k}={v}" for k, v in overrides.items()])
    clock = VirtualClock()
    answer_model = ScriptedChatModel(clock, [answer], prefill_s=0.2, per_token_s=0.05)
    notes_model = ScriptedChatModel(clock, list(note_replies), prefill_s=0.2, per_token_s=0.05)
    backends = Backends(is_speech=energy_vad, asr=ScriptedASR(clock, SCRIPT, cost_s=0.3),
                        inference_model=notes_model, answer_model=answer_model, tts=FakeTTS(clock, cost_s=0.05))
    sink = ListSink()
    pipeline = Pipeline(config, backends, clock, sink, mode=mode)
    audio = np.concatenate([silence(SPEECH_START), tone(SPEECH_END - SPEECH_START), silence(1.5)])
    return pipeline, audio, backends, sink


def kinds(events):
    return [e.kind for e in events]


# The paper's timeline: a note runs to its end, the answer starts once the end of the turn is confirmed;
# segments close on the committed text only (typed text is never revised), words committed when two passes
# agree (the paper streams text: no pass in a pause settles it).
PAPER = {"livemind.schedule": "sequential", "answer.speculative": "false", "livemind.segments_from": "stable",
         "asr.commit_in_pauses": "false"}


def test_livemind_event_order_and_notes():
    pipeline, audio, backends, sink = make_pipeline("livemind", **PAPER)
    events = pipeline.run(audio)
    names = kinds(events)
    assert names[0] == "SpeechStarted"
    end = names.index("SpeechEnded")
    # Notes are written while the user speaks, before the end of the utterance.
    assert "Note" in names[:end]
    assert names[end + 1 : end + 3] == ["TranscriptUpdate", "AnswerStarted"]
    final = events[end + 1]
    assert final.final and final.stable == "What is two plus two? Please answer quickly. Thanks."
    after = names[end:]
    assert after.index("AnswerDelta") < after.index("SentenceReady") < after.index("TTSAudio") < after.index("AnswerDone")
    assert names[-1] == "TurnDone"
    # The answer model saw the notes; the spoken sentences are the answer's sentences.
    # Multi-turn layout: the answer prompt continues the notes conversation, the note as an assistant turn.
    answer_prompt = backends.answer_model.calls[0]
    assert {"role": "assistant", "content": "action inference. The user asks for a sum."} in answer_prompt
    assert answer_prompt[-1]["content"].startswith("Please answer quickly. Thanks.")
    assert backends.tts.spoken == ["Two plus two is four.", "The answer is four."]
    assert sink.closed and len(sink.chunks) == 2


def test_a_warm_up_still_running_when_the_turn_ends_stops_for_the_answer():
    # The prompts' fixed start takes longer to read than the question takes to say (seen on a 2 s question:
    # livemind's longer system prompt, one core): the warm-up stops at its next chunk, the answer reads the rest.
    pipeline, audio, backends, _ = make_pipeline("direct")
    backends.answer_model.warm_s = 8.0  # chunks of 2 s; read whole, it would end at ~8.6 s
    events = pipeline.run(audio)
    started = next(e for e in events if isinstance(e, ev.AnswerStarted))
    assert getattr(backends.answer_model, "prefills_stopped", 0) == 1
    assert started.t < SPEECH_START + 2 * 2.0 + 1.5  # at most two chunks in, not after the whole warm-up
    assert kinds(events)[-1] == "TurnDone"


@pytest.mark.parametrize("mode", ["livemind", "direct", "baseline"])
def test_every_mode_reads_its_system_prompt_before_anyone_speaks(mode):
    pipeline, audio, backends, _ = make_pipeline(mode)
    events = pipeline.run(audio)
    model = backends.answer_model if mode != "livemind" else backends.inference_model
    assert model.prefilled_at[0] == 0.0 < SPEECH_START  # the input's first frame, in its leading silence
    assert model.prefilled[0] == model.prefilled[1]  # the first turn's own warm-up finds it cached
    assert model.prefilled_at[1] >= next(e.t for e in events if isinstance(e, ev.SpeechStarted))


def test_baseline_writes_no_notes_and_gets_the_transcript_only():
    pipeline, audio, backends, _ = make_pipeline("baseline")
    events = pipeline.run(audio)
    assert not any(isinstance(e, ev.Note) for e in events)
    assert backends.inference_model.calls == []
    assert backends.answer_model.calls[0][-1]["content"] == "What is two plus two? Please answer quickly. Thanks."


def test_latency_spans_match_the_virtual_costs():
    pipeline, audio, _, _ = make_pipeline("livemind", **PAPER)
    events = pipeline.run(audio)
    ended = next(e for e in events if isinstance(e, ev.SpeechEnded))
    assert ended.audio_t == pytest.approx(SPEECH_END)
    lat = turn_latency(events, 1)
    assert lat["speech_end_source"] == "vad"
    eou = lat["eou_detected_s"]
    assert eou == pytest.approx(0.6)  # decided when the 600 ms hangover has elapsed, not before or after
    # The pass run in the pause heard all the speech: no final pass. After the end: prefill 0.2 s, first
    # token 0.05 s.
    assert lat["final_transcript_s"] == pytest.approx(eou)
    assert lat["first_token_s"] == pytest.approx(eou + 0.2 + 0.05)
    # First sentence "Two plus two is four." = 5 tokens, then 0.05 s of TTS.
    assert lat["first_sentence_s"] == pytest.approx(eou + 0.2 + 6 * 0.05)
    assert lat["first_audio_s"] == pytest.approx(lat["first_sentence_s"] + 0.05)
    # Synthesis runs on its own lane: the first sentence is spoken while the rest is generated.
    assert lat["answer_done_s"] == pytest.approx(eou + 0.2 + 9 * 0.05)
    assert lat["audio_done_s"] == pytest.approx(eou + 0.2 + 9 * 0.05 + 0.05)
    with_truth = turn_latency(events, 1, true_speech_end=3.4)
    assert with_truth["speech_end_source"] == "sidecar"
    assert with_truth["first_audio_s"] == pytest.approx(lat["first_audio_s"] + 0.11)


@pytest.mark.parametrize("solo", [True, False])
def test_generation_waits_while_the_first_sentence_is_synthesised(solo):
    # tts.first_chunk_solo: on a small CPU the first piece's synthesis and the answer's decoding share the
    # cores, and the first audio is what the user waits for. Synthesis 0.5 s, tokens 0.05 s each.
    pipeline, audio, backends, _ = make_pipeline("livemind", **PAPER, **{"tts.first_chunk_solo": str(solo).lower()})
    backends.tts.cost_s = 0.5
    events = pipeline.run(audio)
    lat = turn_latency(events, 1)
    first_audio = next(e.t for e in events if isinstance(e, ev.TTSAudio))
    deltas_meanwhile = [e for e in events if isinstance(e, ev.AnswerDelta)
                        and lat["first_sentence_s"] < e.t - SPEECH_END < lat["first_audio_s"]]
    assert lat["first_audio_s"] == pytest.approx(lat["first_sentence_s"] + 0.5)
    if solo:  # one token was under way when the sentence was handed over; the next waits for the audio
        assert len(deltas_meanwhile) == 1
        assert lat["answer_done_s"] == pytest.approx(lat["eou_detected_s"] + 0.2 + 9 * 0.05 + 0.5 - 0.05)
        assert min(e.t for e in events if isinstance(e, ev.AnswerDelta) and e.t > first_audio) - first_audio == pytest.approx(0.05)
    else:
        assert len(deltas_meanwhile) == 3  # the rest of the answer, generated during the synthesis
        assert lat["answer_done_s"] == pytest.approx(lat["eou_detected_s"] + 0.2 + 9 * 0.05)


def test_a_busy_model_lane_delays_the_answer_not_the_end_decision():
    # The paper's schedule: notes that take 3 s each keep the model's lane busy past the end of speech. The
    # VAD runs beside the lanes, so the end is decided on time; the answer waits for the running note (the
    # preemptive schedule stops it instead: tests/test_end_of_turn.py).
    pipeline, audio, _, _ = make_pipeline("livemind", **PAPER)
    pipeline.backends.inference_model.per_token_s = 0.3
    events = pipeline.run(audio)
    lat = turn_latency(events, 1)
    assert lat["eou_detected_s"] == pytest.approx(0.6)
    assert lat["first_token_s"] > lat["eou_detected_s"] + 0.2 + 0.05 + 0.5
    assert lat["notes_after_speech_end"] == 1  # the note running at the end finished after it


def test_unparsable_note_is_kept_whole_as_inference():
    pipeline, audio, _, _ = make_pipeline("livemind", note_replies=("The capital of France is Paris.",), **PAPER)
    events = pipeline.run(audio)
    note = next(e for e in events if isinstance(e, ev.Note))
    assert (note.action, note.parsed) == ("inference", False)
    assert note.text == "The capital of France is Paris."


def test_silence_gives_no_turn():
    pipeline, _, backends, sink = make_pipeline("livemind")
    events = pipeline.run(silence(3.0))
    assert events == [] and sink.closed and backends.asr.calls == 0


def test_input_ending_mid_speech_still_answers():
    pipeline, audio, _, _ = make_pipeline("livemind")
    events = pipeline.run(audio[: int(3.0 * 16000)])
    ended = next(e for e in events if isinstance(e, ev.SpeechEnded))
    assert ended.reason == "end_of_input"
    assert kinds(events)[-1] == "TurnDone" and any(isinstance(e, ev.AnswerDone) for e in events)


def test_direct_mode_answers_from_the_transcript_alone_without_reasoning():
    pipeline, audio, backends, _ = make_pipeline("direct")
    events = pipeline.run(audio)
    assert not any(isinstance(e, ev.Note) for e in events)
    messages = backends.answer_model.calls[0]
    assert messages[0]["content"].startswith("You are a voice assistant. The user has finished speaking;")
    assert messages[-1]["content"] == "What is two plus two? Please answer quickly. Thanks."


def test_lettered_options_make_the_answer_start_with_the_choice_and_speak_it():
    script = [(0.3, 0.6, " Pick"), (0.6, 0.9, " one."), (1.0, 1.2, " A"), (1.2, 1.5, " red."), (1.6, 1.8, " B"),
              (1.8, 2.1, " blue."), (2.2, 2.4, " C"), (2.4, 2.8, " green.")]
    pipeline, audio, backends, _ = make_pipeline("livemind", answer="The answer is (B). Blue is calm.")
    backends.asr.words = script
    events = pipeline.run(audio)
    assert backends.answer_model.prefixes[-1] == "The answer is ("
    # The forced start is spoken with the first generated word.
    first_delta = next(e for e in events if isinstance(e, ev.AnswerDelta))
    assert first_delta.text == "The answer is (B)."
    assert backends.tts.spoken == ["The answer is (B).", "Blue is calm."]


def test_a_spoken_answer_stops_after_max_sentences_but_the_baseline_is_not_cut():
    long_answer = "It is four. Two and two make four. Counting helps. Fingers too."
    pipeline, audio, backends, _ = make_pipeline("livemind", answer=long_answer)
    events = pipeline.run(audio)
    done = next(e for e in events if isinstance(e, ev.AnswerDone))
    assert backends.tts.spoken == ["It is four.", "Two and two make four."]
    assert done.text == "It is four. Two and two make four."
    assert done.tokens < len(long_answer.split())  # generation stopped early, not just the speech
    pipeline, audio, backends, _ = make_pipeline("baseline", answer=long_answer)
    pipeline.run(audio)
    assert len(backends.tts.spoken) == 4


def test_a_live_session_keeps_the_events_of_its_last_turn_only():
    config = load_config()
    clock = VirtualClock()
    answer_model = ScriptedChatModel(clock, ["It is four."], prefill_s=0.2, per_token_s=0.05)
    backends = Backends(is_speech=energy_vad, asr=ScriptedASR(clock, SCRIPT, cost_s=0.3),
                        inference_model=answer_model, answer_model=answer_model, tts=FakeTTS(clock, cost_s=0.05))
    seen = []
    pipeline = Pipeline(config, backends, clock, ListSink(), mode="direct", on_event=seen.append, keep_turns=1)
    one = np.concatenate([silence(SPEECH_START), tone(SPEECH_END - SPEECH_START), silence(3.0)])
    events = pipeline.run(np.concatenate([one, one, one]))
    assert [e.turn for e in seen if isinstance(e, ev.TurnDone)] == [1, 2, 3]
    assert {e.turn for e in events} == {3}  # turns 1 and 2 were dropped once they were done
    assert len(events) < len(seen) / 2


def test_segments_from_the_hypothesis_close_a_pass_sooner_and_notes_start_sooner():
    def first(kind, **overrides):
        pipeline, audio, _, _ = make_pipeline("livemind", **overrides)
        return next(e for e in pipeline.run(audio) if e.kind == kind)

    stable = first("SegmentsClosed", **{"livemind.segments_from": "stable"})
    hypothesis = first("SegmentsClosed", **{"livemind.segments_from": "hypothesis"})
    assert stable.segments[0] == hypothesis.segments[0] == "What is two plus two?"
    assert hypothesis.t < stable.t  # closed by the latest hypothesis, before two passes agreed on it
    assert first("Note", **{**PAPER, "livemind.segments_from": "hypothesis"}).t < first("Note", **PAPER).t


def test_from_run_to_the_sink_a_short_path_that_never_passes_through_a_model_call():
    # Data flows one way: the answer's audio reaches the sink from the scheduler's loop, not from inside
    # a model's token loop or a synthesis call (those run on lanes and send messages back).
    import traceback

    paths = []

    class TracingSink(ListSink):
        def write(self, samples, sample_rate):
            stack = [f.name for f in traceback.extract_stack()]
            paths.append(stack[stack.index("run"):])
            super().write(samples, sample_rate)

    pipeline, audio, _, _ = make_pipeline("livemind")
    pipeline.sink = TracingSink()
    pipeline.speaking.sink = pipeline.sink
    pipeline.run(audio)
    assert paths
    for path in paths:
        assert len(path) <= 8, path  # run -> run_source -> message -> _audio -> _play -> play -> write
        assert not {"generate", "synthesize", "transcribe"} & set(path)


# Speech 0.51-2.01 s, a 0.45 s pause (shorter than the hangover), speech 2.46-3.66 s; no full stop before the
# pause. Word times are relative to the turn's buffer.
PAUSED_SCRIPT = [(0.3, 0.6, " I"), (0.6, 0.9, " need"), (0.9, 1.2, " a"), (1.2, 1.6, " flight"),
                 (2.1, 2.4, " to"), (2.4, 2.8, " Boston"), (2.8, 3.1, " tomorrow.")]


def run_with_a_pause(*overrides):
    config = load_config(overrides=list(overrides))
    clock = VirtualClock()
    notes = ScriptedChatModel(clock, ["action inference. The user wants a flight."], prefill_s=0.2, per_token_s=0.05)
    answer = ScriptedChatModel(clock, ["Which airline?"], prefill_s=0.2, per_token_s=0.05)
    backends = Backends(is_speech=energy_vad, asr=ScriptedASR(clock, PAUSED_SCRIPT, cost_s=0.3),
                        inference_model=notes, answer_model=answer, tts=FakeTTS(clock, cost_s=0.05))
    audio = np.concatenate([silence(0.51), tone(1.5), silence(0.45), tone(1.2), silence(1.5)])
    return Pipeline(config, backends, clock, ListSink(), mode="livemind").run(audio), answer


def test_a_pause_closes_the_segment_before_it_and_its_note_is_written_then():
    events, answer = run_with_a_pause()
    ended = next(e for e in events if isinstance(e, ev.SpeechEnded))
    assert len([e for e in events if isinstance(e, ev.SpeechEnded)]) == 1  # the pause did not end the turn
    closed = [e for e in events if isinstance(e, ev.SegmentsClosed)]
    # closed by the pass in the pause, before any word after it was heard
    first_after = next(e.t for e in events if isinstance(e, ev.TranscriptUpdate) and "to" in e.stable.split())
    assert closed[0].segments == ("I need a flight",) and closed[0].t < first_after
    notes = [e for e in events if isinstance(e, ev.Note)]
    assert notes and notes[0].segments == ("I need a flight",) and notes[0].t < ended.t
    # the final pause closes the last piece too; the answer's prompt is cut at the same place, so the note
    # written in the pause stands between the two parts
    assert closed[-1].segments == ("I need a flight", "to Boston tomorrow.")
    users = [m["content"] for m in answer.calls[-1] if m["role"] == "user"]
    assistants = [m["content"] for m in answer.calls[-1] if m["role"] == "assistant"]
    assert users[0] == "I need a flight" and users[-1].startswith("to Boston tomorrow.")
    assert any("wants a flight" in a for a in assistants)


def test_without_pause_breaks_the_unpunctuated_words_stay_one_open_segment():
    events, _ = run_with_a_pause("livemind.pause_break_ms=0")
    ended = next(e for e in events if isinstance(e, ev.SpeechEnded))
    assert not [e for e in events if isinstance(e, (ev.SegmentsClosed, ev.Note)) and e.t < ended.t]
