"""bench voice: inputs, per-mode backends, and the summary maths (no models)."""

import numpy as np
import pytest

from voice_livemind.bench.voice import (add_arguments, find_inputs, note_coverage, run_one, summarise,
                                        summarise_pacings, write_report)
from voice_livemind.config import load_config


def record(mode, v2v, done, correct=None):
    stages = {"eou_detected_s": 0.6, "final_transcript_s": 0.9, "first_token_s": 1.2, "first_sentence_s": 1.5}
    return {"mode": mode, "file": "q.wav", "v2v_s": v2v, "first_audio_s": v2v, "answer_done_s": done,
            "audio_done_s": done + 1, "correct": correct, "hit_token_cap": False, **stages}


def test_summary_medians_accuracy_and_reductions():
    records = [record("baseline", 2.0, 10.0, True), record("baseline", 3.0, 20.0, False), record("baseline", 4.0, 30.0),
               record("livemind", 1.0, 2.0, True), record("livemind", 1.5, 3.0, True), record("livemind", 2.0, 4.0),
               {"mode": "livemind", "file": "silence.wav", "error": "no answer"}]
    summary = summarise(records, ["baseline", "livemind"])
    base, live = summary["modes"]["baseline"], summary["modes"]["livemind"]
    assert (base["n"], base["median_v2v_s"], base["median_answer_done_s"]) == (3, 3.0, 20.0)
    assert base["accuracy"] == 0.5 and base["n_multiple_choice"] == 2
    assert live["n"] == 3 and live["accuracy"] == 1.0
    assert live["p90_v2v_s"] == pytest.approx(1.9)
    assert summary["reductions"]["livemind_vs_baseline"]["median_answer_done_pct"] == pytest.approx(85.0)
    assert summary["reductions"]["livemind_vs_baseline"]["median_v2v_pct"] == pytest.approx(50.0)
    assert summary["failed"] == [records[-1]]
    assert live["stages_median_s"]["eou_detected_s"] == 0.6


def test_inputs_from_folders_and_clear_errors(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"")
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("x")
    assert find_inputs([str(tmp_path)], 0) == [tmp_path / "a.wav"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no audio files"):
        find_inputs([str(empty)], 0)
    with pytest.raises(ValueError, match="is not a folder"):
        find_inputs([str(tmp_path / "missing")], 0)


def test_default_set_is_the_question_fixtures_when_no_mmlu_is_asked():
    paths = find_inputs([], 0)
    assert [p.stem for p in paths] == ["short_question", "multi_sentence", "long_question", "mmlu_choice", "real_example6"]
    assert all(p.exists() for p in paths)


def test_speculation_hit_rate_and_waste():
    spec = [dict(record("livemind", 1.0, 2.0), speculations=2, speculation_used=True, speculation_wasted_s=0.3),
            dict(record("livemind", 1.0, 2.0), speculations=1, speculation_used=False, speculation_wasted_s=0.5),
            dict(record("livemind", 1.0, 2.0), speculations=0, speculation_used=False, speculation_wasted_s=0.0)]
    live = summarise(spec, ["livemind"])["modes"]["livemind"]
    assert live["speculations"] == 3 and live["speculation_hit_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert live["speculation_wasted_s"] == pytest.approx(0.8)
    assert summarise([record("direct", 1.0, 2.0)], ["direct"])["modes"]["direct"]["speculation_hit_rate"] is None


# -- note coverage and the two pacings ----------------------------------------------------------------


def test_note_coverage_per_item_and_its_median_over_turns_with_closed_segments():
    rows = [dict(record("livemind", 1.0, 2.0), segments_closed=4, segments_noted=3),
            dict(record("livemind", 1.0, 2.0), segments_closed=2, segments_noted=0),
            dict(record("livemind", 1.0, 2.0), segments_closed=5, segments_noted=5),
            dict(record("livemind", 1.0, 2.0), segments_closed=0, segments_noted=0)]  # a one-sentence question
    assert [note_coverage(r) for r in rows] == [0.75, 0.0, 1.0, None]
    live = summarise(rows, ["livemind"])["modes"]["livemind"]
    assert live["median_note_coverage"] == pytest.approx(0.75)
    assert (live["turns_with_segments"], live["segments_closed"], live["segments_noted"]) == (3, 11, 8)
    assert summarise([record("direct", 1.0, 2.0)], ["direct"])["modes"]["direct"]["median_note_coverage"] is None


def paced(mode, pacing, file, v2v, done, noted=2):
    return dict(record(mode, v2v, done), file=file, pacing=pacing, segments_closed=4, segments_noted=noted)


def test_two_pacings_are_summarised_apart_and_compared_item_by_item():
    records = [paced("livemind", "fast", "a.wav", 1.0, 2.0), paced("livemind", "realtime", "a.wav", 1.1, 2.2, 3),
               paced("livemind", "fast", "b.wav", 2.0, 3.0), paced("livemind", "realtime", "b.wav", 1.7, 3.1),
               paced("livemind", "fast", "c.wav", 3.0, 4.0),  # its realtime run gave no answer: not paired
               {"mode": "livemind", "pacing": "realtime", "file": "c.wav", "error": "no answer"}]
    summary = summarise_pacings(records, ["livemind"], ["fast", "realtime"])
    assert summary["pacings"] == ["fast", "realtime"]
    assert summary["modes"]["livemind"]["n"] == 3 and summary["modes"]["livemind"]["median_v2v_s"] == 2.0
    assert summary["by_pacing"]["realtime"]["livemind"]["n"] == 2
    assert summary["failed"] == [records[-1]]
    comparison = summary["pacing_comparison"]
    assert (comparison["reference"], comparison["other"]) == ("fast", "realtime")
    live = comparison["modes"]["livemind"]
    assert live["pairs"] == 2
    assert live["v2v_s"]["median_diff"] == pytest.approx(-0.1)  # +0.1 and -0.3
    assert live["v2v_s"]["max_abs_diff"] == pytest.approx(0.3)
    assert live["v2v_s"]["diff_of_medians"] == pytest.approx(1.4 - 1.5)
    assert live["answer_done_s"]["median_diff"] == pytest.approx(0.15)
    assert live["segments_noted"]["max_abs_diff"] == 1


def test_one_pacing_keeps_the_single_pacing_summary():
    records = [paced("livemind", "fast", "a.wav", 1.0, 2.0), paced("direct", "fast", "a.wav", 1.2, 1.5)]
    summary = summarise_pacings(records, ["direct", "livemind"], ["fast"])
    assert summary["modes"] == summarise(records, ["direct", "livemind"])["modes"]
    assert "by_pacing" not in summary and "pacing_comparison" not in summary


def test_report_shows_coverage_and_the_pacing_differences(tmp_path):
    records = [paced("livemind", "fast", "a.wav", 1.0, 2.0), paced("livemind", "realtime", "a.wav", 1.1, 2.2, 3),
               paced("direct", "fast", "a.wav", 1.2, 1.5), paced("direct", "realtime", "a.wav", 1.25, 1.5)]
    for r in records:
        r.update(notes=2, first_audio_s=r["v2v_s"])
    summary = summarise_pacings(records, ["direct", "livemind"], ["fast", "realtime"])
    text = write_report(tmp_path, records, summary, "header")
    assert "median note coverage" in text and "| a.wav | livemind | 2 | 2 | 4 | 0.500 |" in text
    assert "Pacing: fast and realtime" in text and "realtime minus fast" in text
    assert "| livemind | 1 | 0.100 | 0.100 | 0.200 |" in text and "max abs diff" in text
    assert (tmp_path / "table.md").read_text() == text and (tmp_path / "waterfall.png").exists()


def test_pacing_option_takes_one_or_both():
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args([]).pacing is None
    assert parser.parse_args(["--pacing", "fast", "realtime"]).pacing == ["fast", "realtime"]
    with pytest.raises(SystemExit):
        parser.parse_args(["--pacing", "slow"])


class EventPipeline:
    """Stands in for the Pipeline: a livemind turn as events (the bench reads nothing else of it)."""

    def __init__(self, config, backends, clock, sink, mode=None, on_event=None):
        self.backends = backends

    def run(self, samples):
        from voice_livemind import events as ev

        a, b = "What is the capital of France?", "Answer with one word."
        return [ev.SpeechStarted(0.3, 1, 0.3), ev.SegmentsClosed(1.5, 1, (a,)),
                ev.Note(1.9, 1, "inference", "capital", (a,)), ev.SegmentsClosed(1.95, 1, (a, b)),
                ev.Note(2.2, 1, "inference", "one word", (b,)),  # after the true end (2.03 s): not counted
                ev.SpeechEnded(3.2, 1, 2.55), ev.TranscriptUpdate(3.2, 1, f"{a} {b}", "", final=True),
                ev.AnswerStarted(3.2, 1, "livemind", speculative=True), ev.AnswerDelta(3.4, 1, "Paris"), ev.SentenceReady(3.5, 1, "Paris."),
                ev.TTSAudio(3.6, 1, np.zeros(10, dtype=np.float32)), ev.AnswerDone(3.5, 1, "Paris.", 2),
                ev.TurnDone(3.7, 1)]


class Forgetful:
    def forget(self):
        pass


def test_run_one_reads_the_latency_and_coverage_off_the_events(monkeypatch):
    monkeypatch.setattr("voice_livemind.pipeline.Pipeline", EventPipeline)
    model = Forgetful()
    shared = {"config": load_config(), "asr": None, "tts": None}
    fixture = find_inputs([], 0)[0]  # short_question.wav, with its sidecar
    rec = run_one(fixture, "livemind", shared, model, model, "realtime")
    assert (rec["mode"], rec["pacing"], rec["file"]) == ("livemind", "realtime", fixture.name)
    assert (rec["segments_closed"], rec["segments_noted"], rec["note_coverage"]) == (2, 1, 0.5)
    assert rec["speculative"] and not rec["answer_first"]  # read off AnswerStarted
    assert rec["speech_end_source"] == "sidecar" and rec["v2v_s"] == pytest.approx(3.6 - rec["speech_end_s"])
    assert rec["cut_offs"] == 0


class CutOffPipeline(EventPipeline):
    """The turn ended in a pause and its answer was heard before the user went on (turn 1); the rest of the
    question was turn 2, answered after the true end (2.03 s, the sidecar's)."""

    def run(self, samples):
        from voice_livemind import events as ev

        audio = np.zeros(10, dtype=np.float32)
        return [ev.SpeechStarted(0.3, 1, 0.3), ev.SpeechEnded(1.0, 1, 0.8),
                ev.TranscriptUpdate(1.0, 1, "SHA-1 has", "", final=True),
                ev.AnswerStarted(1.1, 1, "direct"), ev.TTSAudio(1.4, 1, audio), ev.AnswerDone(1.3, 1, "Sorry.", 2),
                ev.BargeIn(1.6, 1, 1.5, 1.6), ev.SpeechStarted(1.6, 2, 1.5), ev.SpeechEnded(2.3, 2, 2.03),
                ev.TranscriptUpdate(2.4, 2, "A 160 bits.", "", final=True),
                ev.AnswerStarted(2.4, 2, "direct", forced_start="The answer is ("), ev.AnswerDelta(2.5, 2, "The answer is (A"),
                ev.TTSAudio(2.7, 2, audio), ev.AnswerDone(2.6, 2, "The answer is (A).", 2), ev.TurnDone(2.8, 2)]


def test_an_answer_heard_before_the_user_finished_counts_as_a_cut_off_and_the_last_turn_is_timed(monkeypatch):
    monkeypatch.setattr("voice_livemind.pipeline.Pipeline", CutOffPipeline)
    model = Forgetful()
    shared = {"config": load_config(), "asr": None, "tts": None}
    fixture = find_inputs([], 0)[0]  # short_question.wav: speech ends at 2.03 s
    rec = run_one(fixture, "direct", shared, model, model, "realtime")
    assert rec["cut_offs"] == 1 and rec["answer_first"] and rec["answer"] == "The answer is (A)."
    assert rec["v2v_s"] == pytest.approx(2.7 - 2.03) and rec["eou_detected_s"] == pytest.approx(2.3 - 2.03)
    summary = summarise([rec, {**rec, "cut_offs": 0}], ["direct"])
    assert summary["modes"]["direct"]["cut_off_items"] == 1
