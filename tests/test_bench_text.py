"""The text benchmark's parts with scripted models on a virtual clock: input timing, modes, summary."""

import json

import pytest

from tests.fakes import ScriptedChatModel
from voice_livemind.bench.text import (Question, load_questions, make_stream, run_question, spread, summarise)
from voice_livemind.clock import VirtualClock
from voice_livemind.config import load_config

Q = Question("7", "A train leaves at noon. It travels for two hours. When does it arrive?",
             ("1 pm", "2 pm", "3 pm"), "B", "physics")


def test_words_arrive_at_the_rate_and_options_come_with_the_last_word():
    stream = make_stream(Q, rate=150, unit="wpm", stream_options=False)
    assert len(stream.arrivals) == 14  # 14 words, one arrival each
    assert stream.end == pytest.approx(14 * 0.4)
    assert stream.visible(0.39) == "" and stream.visible(0.4) == "A"
    assert stream.visible(0.8) == "A train"
    assert stream.visible(stream.end - 0.01).endswith("When does it")
    assert stream.full_text == Q.question + "\nA. 1 pm\nB. 2 pm\nC. 3 pm"


def test_characters_per_minute_and_streamed_options():
    stream = make_stream(Q, rate=240, unit="cpm", stream_options=True)
    text = Q.question + "\nA. 1 pm\nB. 2 pm\nC. 3 pm"
    assert len(stream.arrivals) == len(text) and stream.end == pytest.approx(len(text) * 0.25)
    assert stream.visible(0.5) == "A " and stream.full_text == text


def test_spread_takes_categories_round_robin():
    qs = [Question(str(i), "q", ("a", "b"), "A", cat) for i, cat in enumerate("xxxyyz")]
    assert [q.category for q in spread(qs, 4)] == ["x", "y", "z", "x"]
    assert spread(qs, None) == qs


def test_load_questions_shipped_and_bad_files(tmp_path):
    questions = load_questions(None)
    assert len(questions) == 70 and len({q.category for q in questions}) == 14
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_questions(bad)
    bad.write_text(json.dumps([{"question": "q", "options": ["a", "b"]}]))
    with pytest.raises(ValueError, match="lacks answer"):
        load_questions(bad)
    bad.write_text(json.dumps([{"question": "q", "options": ["a", "b"], "answer": "C"}]))
    with pytest.raises(ValueError, match="answer letter"):
        load_questions(bad)
    with pytest.raises(ValueError, match="cannot read"):
        load_questions(tmp_path / "missing.json")


def run_all_modes(notes_cost_per_token=0.05):
    clock = VirtualClock()
    config = load_config()
    # The baseline reasons for 24 "tokens" (words) before answering; the LiveMind answer is answer-first.
    cot = "Let us think. " + "step " * 16 + "So the answer is (B)."
    large = ScriptedChatModel(clock, ["action inference. Noon plus two hours."], prefill_s=0.3,
                              per_token_s=notes_cost_per_token, answer_replies=["The answer is (B). Two pm."])
    small = ScriptedChatModel(clock, [cot], prefill_s=0.2, per_token_s=0.05)
    return run_question(Q, ["baseline", "livemind", "collaboration", "small_baseline"], config, large, small,
                        150, "wpm", False, new_clock=clock.rewind), large, small


def test_run_question_latency_is_measured_from_the_end_of_input():
    records, large, small = run_all_modes()
    by_mode = {r["mode"]: r for r in records}
    base = by_mode["small_baseline"]
    # 0.2 s prefill + 24 tokens at 0.05 s, all after the end of input.
    assert base["latency_s"] == pytest.approx(0.2 + 24 * 0.05)
    assert base["first_token_s"] == pytest.approx(0.25) and base["prediction"] == "B" and base["correct"]
    live = by_mode["livemind"]
    assert live["actions"] == {"inference": 2} and live["calls"] == 2 and live["parsed"] == 2
    # Notes finish before the end of input here, so nothing runs over.
    assert live["overrun_s"] == 0.0
    collab = by_mode["collaboration"]
    assert collab["notes_compute_s"] == live["notes_compute_s"]  # one shared notes phase
    # The small model continues the forced "The answer is (" with its whole scripted reply (24 words).
    assert collab["latency_s"] == pytest.approx(0.2 + 24 * 0.05)
    # livemind: "B). Two pm." after the forced prefix: 3 words at 0.05 s.
    assert live["latency_s"] == pytest.approx(0.3 + 3 * 0.05)
    assert live["answer_text"] == "The answer is (B). Two pm." and live["correct"]
    # Call order on the large model: baseline, two notes, livemind's answer. Only the answer is forced.
    assert large.prefixes == ["", "action", "action", "The answer is ("]
    assert large.calls[0][0]["content"].startswith("You are a voice assistant. Think step by step")


def test_a_note_running_past_the_end_of_input_delays_the_answer():
    records, _, _ = run_all_modes(notes_cost_per_token=1.0)  # each note takes 6.3 s
    live = next(r for r in records if r["mode"] == "livemind")
    assert live["overrun_s"] > 0
    assert live["latency_s"] == pytest.approx(live["overrun_s"] + 0.3 + 3 * 1.0)


def test_summary_blocks_and_reductions():
    records = [
        {"mode": m, "latency_s": lat, "first_token_s": 0.1, "correct": ok, "prediction": "A", "category": "c",
         "words": 30, "total_generation_s": lat, "overrun_s": 0.0, "answer_stop": "end", "actions": {}}
        for m, lat, ok in [("baseline", 10.0, True), ("baseline", 20.0, False), ("livemind", 2.0, True), ("livemind", 4.0, True)]
    ]
    summary = summarise(records, ["baseline", "livemind"])
    assert summary["modes"]["baseline"]["mean_latency_s"] == 15.0
    assert summary["modes"]["livemind"]["accuracy"] == 1.0
    assert summary["reductions"]["livemind_vs_baseline"]["mean_latency_pct"] == pytest.approx(80.0)
    assert list(summary["by_length"]["baseline"]) == ["25-49 words"]


def run_modes(modes, overrides=(), notes=("action inference. Noon plus two hours.",)):
    clock = VirtualClock()
    config = load_config(overrides=list(overrides))
    large = ScriptedChatModel(clock, list(notes), prefill_s=0.3, per_token_s=0.05,
                              answer_replies=["The answer is (B). Two pm."])
    records = run_question(Q, modes, config, large, large, 150, "wpm", False, new_clock=clock.rewind)
    return {r["mode"]: r for r in records}, large


def test_direct_is_livemind_without_the_notes_same_output_stage():
    by_mode, large = run_modes(["direct", "livemind"])
    direct, live = by_mode["direct"], by_mode["livemind"]
    assert direct["answer_first"] and live["answer_first"]  # the same forced start for both
    assert direct["notes_compute_s"] == 0.0 and live["notes_compute_s"] > 0
    direct_call = large.calls[0]
    assert direct_call[0]["content"].startswith("You are a voice assistant. The user has finished speaking")
    assert not any(m["role"] == "assistant" for m in direct_call)  # no notes
    assert large.prefixes == ["The answer is (", "action", "action", "The answer is ("]


def test_paper_setting_every_mode_answers_freely_livemind_with_the_authors_prompt():
    by_mode, large = run_modes(["baseline", "direct", "livemind"], ["answer.output=paper"])
    assert not any(r["answer_first"] for r in by_mode.values())
    assert all(p in ("", "action") for p in large.prefixes)
    livemind_answer = large.calls[-1]
    assert "You can answer directly if you can obtain the answer in your previous inferences" in (
        livemind_answer[0]["content"])


def test_paper_setting_without_notes_livemind_reasons_like_the_baseline():
    by_mode, large = run_modes(["baseline", "livemind"], ["answer.output=paper"], notes=("action wait.",))
    baseline_call, livemind_answer = large.calls[0], large.calls[-1]
    assert livemind_answer == baseline_call  # chain of thought on the complete input: the paper's fallback
    assert by_mode["livemind"]["actions"] == {"wait": 2}


def test_accuracy_comes_with_its_wilson_interval():
    from voice_livemind.bench.report import accuracy_text, wilson_interval

    low, high = wilson_interval(8, 70)
    assert low == pytest.approx(0.0591, abs=1e-3) and high == pytest.approx(0.2095, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(0, 0) is None
    assert accuracy_text(8, 70) == "0.114 [0.059-0.210]"
    records = [{"mode": "livemind", "latency_s": 1.0, "first_token_s": 0.1, "correct": i < 3, "prediction": "A",
                "category": "c", "words": 30, "total_generation_s": 1.0, "overrun_s": 0.0, "answer_stop": "end",
                "actions": {}, "answer_first": i % 2 == 0} for i in range(10)]
    block = summarise(records, ["livemind"])["modes"]["livemind"]
    assert block["accuracy_text"] == accuracy_text(3, 10) and block["answer_first"] == 5


def test_layout_ablation_runs_the_note_modes_once_per_layout_and_the_others_once():
    import argparse

    from voice_livemind.bench.text import add_arguments, layout_runs

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--modes", "baseline", "livemind", "--layouts", "u-pli", "multi_turn"])
    runs = layout_runs(args, load_config())
    assert [(c.livemind.layout, m, n) for c, m, n in runs] == [
        ("multi_turn", ["baseline"], ["baseline"]),
        ("u-pli", ["livemind"], ["livemind[u-pli]"]),
        ("multi_turn", ["livemind"], ["livemind[multi_turn]"])]
    records = [{"mode": m, "latency_s": lat, "first_token_s": 0.1, "correct": True, "prediction": "A",
                "category": "c", "words": 30, "total_generation_s": lat, "overrun_s": 0.0, "answer_stop": "end",
                "actions": {}} for m, lat in [("baseline", 10.0), ("livemind[u-pli]", 2.0), ("livemind[multi_turn]", 1.0)]]
    reductions = summarise(records, [n for _, _, names in runs for n in names])["reductions"]
    assert reductions["livemind[u-pli]_vs_baseline"]["mean_latency_pct"] == pytest.approx(80.0)
    assert reductions["livemind[multi_turn]_vs_baseline"]["mean_latency_pct"] == pytest.approx(90.0)
    with pytest.raises(SystemExit):
        parser.parse_args(["--layouts", "u-xyz"])


def test_every_mode_warms_its_fixed_prompt_start_while_the_input_arrives():
    by_mode, large = run_modes(["baseline", "direct", "livemind"])
    config = load_config()
    systems = [messages[0]["content"] for messages in large.prefilled]
    assert systems[0] == config.livemind.prompts.baseline_system
    assert systems[1] == config.livemind.prompts.answer_system
    assert systems[2].startswith(config.livemind.prompts.inference_system)  # the multi-turn notes + answer start
    assert all(len(messages) == 1 for messages in large.prefilled)
    # warming happens before the end of the input: it adds nothing to the latency after it
    assert by_mode["direct"]["latency_s"] == pytest.approx(0.3 + 3 * 0.05)
