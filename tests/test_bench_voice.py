"""bench voice: inputs, per-mode backends, and the summary maths (no models)."""

import pytest

from voice_livemind.bench.voice import find_inputs, summarise


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
