"""`bench text` on the real SmolLM2 (CPU) with two short questions: the report has what the issue asks."""

import argparse
import json
from importlib import resources

import pytest

from voice_livemind.bench import text as bench_text

pytestmark = pytest.mark.integration


def test_bench_text_on_two_questions(tmp_path):
    shortest = sorted(json.loads((resources.files("voice_livemind.data") / "mmlu_pro_validation.json")
                                 .read_text()), key=lambda r: len(r["question"]) + sum(map(len, r["options"])))[:2]
    data = tmp_path / "two.json"
    data.write_text(json.dumps(shortest))
    parser = argparse.ArgumentParser()
    bench_text.add_arguments(parser)
    args = parser.parse_args(["--data", str(data), "--out", str(tmp_path / "out"), "--set", "answer.max_new_tokens=64"])
    assert bench_text.run(args) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert set(summary["modes"]) == set(bench_text.MODES)
    for block in summary["modes"].values():
        assert block["n"] == 2
        assert {"mean_latency_s", "median_latency_s", "mean_first_token_s", "accuracy"} <= set(block)
        assert block["mean_latency_s"] > 0
    # The answer-first output stage states a letter for every question.
    assert summary["modes"]["livemind"]["answered"] == 2
    assert summary["modes"]["livemind"]["answer_first"] == summary["modes"]["direct"]["answer_first"] == 2
    assert summary["modes"]["baseline"]["answer_first"] == 0
    assert "livemind_vs_direct" in summary["reductions"]
    records = [json.loads(line) for line in (tmp_path / "out" / "records.jsonl").read_text().splitlines()]
    assert len(records) == 2 * len(bench_text.MODES)
    for name in ("table.md", "latency_per_mode.png", "latency_vs_length.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
