"""bench turns: the offline end-of-turn simulation and its scores (fakes), and one quick real run."""

import json
from pathlib import Path

import numpy as np
import pytest

from voice_livemind.bench import turns as bt
from voice_livemind.config import load_config

RATE = 16000
FRAME_S = 0.03
CONFIG = load_config()


def clip_with(speech: list[tuple[float, float]], seconds: float, **fields) -> tuple[bt.Clip, list[bool]]:
    """A clip whose frame decisions are speech inside the given spans."""
    n = int(round(seconds / FRAME_S))
    decisions = [any(a - 1e-9 <= i * FRAME_S < b - 1e-9 for a, b in speech) for i in range(n)]
    return bt.Clip("c", fields.pop("group", "real"), np.zeros(n * 480, np.float32), **fields), decisions


class FakeModel:
    def __init__(self, p):
        self.p, self.calls = p, 0

    def __call__(self, audio):
        self.calls += 1
        return self.p(audio.size / RATE)


def test_silence_rule_cuts_a_long_pause_and_ends_after_the_hangover():
    clip, decisions = clip_with([(0.3, 1.5), (2.4, 3.0)], 5.0, true_end=3.0, pauses=[(1.5, 2.4)], pause_kinds=["inside"])
    turns = bt.simulate(clip, bt.Policy("silence", hangover_ms=600), CONFIG, decisions, 0, None, 0.0)
    scored = bt.score_clip(clip, turns)
    assert scored["pauses_cut"] == [True] and scored["turns"] == 2
    assert scored["delay_s"] == pytest.approx(0.6) and scored["cutoffs_before_end"] == 1


def test_the_model_ends_a_finished_pause_at_ask_plus_latency_and_spares_an_unfinished_one():
    clip, decisions = clip_with([(0.3, 1.5), (2.4, 3.0)], 5.0, true_end=3.0, pauses=[(1.5, 2.4)], pause_kinds=["inside"])
    model = bt.CachedModel(FakeModel(lambda heard: 0.9 if heard > 2.5 else 0.1))  # finished only at the end
    policy = bt.Policy("combined", end_model=True, min_silence_ms=210, max_silence_ms=1500, threshold=0.5)
    turns = bt.simulate(clip, policy, CONFIG, decisions, 0, model, 0.06)
    scored = bt.score_clip(clip, turns)
    assert scored["pauses_cut"] == [False] and scored["turns"] == 1
    assert scored["delay_s"] == pytest.approx(0.21 + 0.06)
    assert model.model.calls == 2  # one question per pause, answered once each
    again = bt.simulate(clip, policy, CONFIG, decisions, 0, model, 0.06)  # another policy asking the same: cached
    assert model.model.calls == 2 and len(again) == 1


def test_summary_rows_read_real_ends_lecture_pauses_synthetic_and_noise():
    clips = {"a": bt.Clip("a", "real", np.zeros(1), true_end=1.0),
             "lecture_en": bt.Clip("lecture_en", "real", np.zeros(1), None, [(1, 1.4), (2, 2.8), (3, 4.0)],
                                   ["inside", "inside", "sentence end"]),
             "s": bt.Clip("s", "synthetic", np.zeros(1), true_end=2.0),
             "n": bt.Clip("n", "noise", np.zeros(1))}
    scored = [{"clip": "a", "turns": 1, "delay_s": 0.25, "cutoffs_before_end": 0},
              {"clip": "lecture_en", "turns": 3, "pauses_cut": [False, True, True]},
              {"clip": "s", "turns": 2, "delay_s": None, "cutoffs_before_end": 1},
              {"clip": "n", "turns": 2, "longest_turn_s": 12.5, "turn_spans": []}]
    row = bt.summarise(bt.Policy("silence"), scored, clips)
    assert row["delay_median_s"] == 0.25 and row["real_missed"] == 0
    assert row["cutoff_rate"] == pytest.approx(2 / 3) and row["cutoff_rate_inside"] == pytest.approx(0.5)
    assert row["cutoffs_inside_0.6_1.2"] == "1/1"  # the 0.8 s pause inside a sentence
    assert row["synthetic_missed"] == 1 and row["synthetic_cutoffs_before_end"] == 1
    assert row["noise_turns"] == 2 and row["noise_longest_turn_s"] == 12.5


def test_the_grid_starts_with_the_configs_own_rule():
    vad = load_config().vad
    grid = bt.policies(vad, quick=True)
    assert grid[0] == bt.current_policy(vad)
    assert {p.family for p in grid} == {"silence", "silero", "smart_turn", "combined"}
    assert all(p.max_silence_ms == bt.NEVER_MS for p in grid if p.family == "smart_turn")
    again = [p for p in grid if p.every_ms]
    assert again and "again every 400 ms" in again[0].label
    assert again[0].applied(load_config()).vad.end_model_every_ms == 400


@pytest.mark.integration
def test_bench_turns_quick_run_writes_its_report(tmp_path):
    from voice_livemind.cli import main

    out = tmp_path / "out"
    assert main(["bench", "turns", "--quick", "--no-asr", "--model-latency-ms", "50", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["real_true_ends"] == 4 and summary["model_calls"] > 0
    default = summary["default"]
    assert default["real_missed"] == 0 and default["delay_median_s"] < 0.6
    assert default["noise_turns"] == 0  # Silero: the loud noise opens no turn
    rows = json.loads((out / "per_policy.json").read_text())["rows"]
    old = next(r for r in rows if r["family"] == "silence" and r["hangover_ms"] == 600)
    assert old["noise_turns"] > 0 and old["noise_longest_turn_s"] > 15  # webrtcvad alone holds it open
    assert (out / "table.md").read_text().count("|") > 20 and (out / "tradeoff.png").stat().st_size > 1000


def test_the_text_signal_is_asked_at_true_ends_and_pauses_and_scored_per_signal():
    audio = np.zeros(10 * RATE, np.float32)
    clips = [bt.Clip("q", "real", audio, true_end=2.0),
             bt.Clip("lecture", "real", audio, None, [(3.0, 4.0), (6.0, 6.5)], ["inside", "after"]),
             bt.Clip("synthetic", "synthetic", audio, true_end=1.0)]  # judged on real speech only
    assert bt.asked_points(clips) == [("q", "end", 2.2), ("lecture", "inside", 3.2), ("lecture", "after", 6.2)]

    class Words:  # "Whisper": the transcript says how much audio it heard
        def transcribe(self, audio, prompt):
            from voice_livemind.asr import Word
            return [Word(0.0, 0.1, f" heard {audio.size / RATE:.1f}")]

    text_p = {"heard 2.2": 0.9, "heard 3.2": 0.2, "heard 6.2": 0.6}  # the 8 s window: at 6.2 s, 6.2 s of audio
    result = bt.text_signal(clips, Words(), lambda text: text_p[text], lambda audio: 0.4)
    assert [(r["kind"], r["p_text"], r["p_mean"]) for r in result["points"]] == [
        ("end", 0.9, pytest.approx(0.65)), ("inside", 0.2, pytest.approx(0.3)), ("after", 0.6, pytest.approx(0.5))]
    rows = {(r["signal"], r["threshold"]): r for r in result["table"]}
    assert rows[("text", 0.5)]["ends_finished"] == "1/1" and rows[("text", 0.5)]["pauses_cut"] == "1/2"
    assert rows[("text", 0.5)]["inside_cut"] == "0/1" and rows[("audio", 0.5)]["ends_finished"] == "0/1"
    assert rows[("mean", 0.5)]["pauses_cut"] == "1/2" and rows[("mean", 0.7)]["ends_finished"] == "0/1"


def test_the_question_mark_signal_is_scored_alone_and_beside_smart_turn():
    audio = np.zeros(10 * RATE, np.float32)
    clips = [bt.Clip("q", "real", audio, true_end=2.0),
             bt.Clip("lecture", "real", audio, None, [(3.0, 4.0), (6.0, 6.5)], ["inside", "after"])]

    class Words:  # the true end is heard as a question, the pauses as statements
        def transcribe(self, audio, prompt):
            from voice_livemind.asr import Word
            return [Word(0.0, 0.1, " Where is it?" if audio.size / RATE < 3 else " It is here.")]

    result = bt.text_signal(clips, Words(), lambda text: 0.0, lambda audio: 0.6 if audio.size / RATE > 6 else 0.1)
    rows = {(r["signal"], r["threshold"]): r for r in result["table"]}
    assert [r["threshold"] for r in result["table"] if r["signal"] == "question"] == [1.0]
    assert rows[("question", 1.0)]["ends_finished"] == "1/1" and rows[("question", 1.0)]["pauses_cut"] == "0/2"
    either = rows[("audio_or_question", 0.5)]
    assert either["ends_finished"] == "1/1" and either["pauses_cut"] == "1/2" and either["inside_cut"] == "0/1"
