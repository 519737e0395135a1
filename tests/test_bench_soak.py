"""bench soak's parts on fakes and a virtual clock: the endless clip source, and a long session through one
pipeline that answers every question and keeps a bounded event log."""

import numpy as np
import pytest

from tests.fakes import FakeTTS, ListSink, ScriptedASR, ScriptedChatModel, energy_vad, silence, tone
from voice_livemind import events as ev
from voice_livemind.bench.soak import ClipCycle, TurnRecorder, summarise
from voice_livemind.clock import VirtualClock
from voice_livemind.config import load_config
from voice_livemind.pipeline import Backends, Pipeline

SCRIPT = [(0.3, 0.6, " What"), (0.6, 0.9, " is"), (0.9, 1.3, " two"), (1.3, 1.6, " plus"), (1.6, 2.0, " two?")]


def clips():
    question = np.concatenate([silence(0.3), tone(1.8), silence(0.2)])  # speech 0.3-2.1 s
    return [("a", question, 2.1), ("b", question, 2.1)]


def test_the_clip_source_plays_clips_and_gaps_back_to_back_without_holding_the_whole_signal():
    source = ClipCycle(clips(), gap_s=1.0, total_s=10.0, frame_ms=30)
    frames = source.ready(4.0)
    assert [f.t for f in frames[:3]] == pytest.approx([0.0, 0.03, 0.06])
    assert all(b.t == pytest.approx(a.t + 0.03) for a, b in zip(frames, frames[1:]))
    assert source.played == 2  # a's clip and gap are 3.3 s (rounded up to frames): b was queued at 4 s
    assert len(source._frames) < 3.5 / 0.03  # one clip and its gap at most, never the 10 s
    assert source.true_end(3.0) == ("a", pytest.approx(2.1))
    rest = source.ready(1e9)
    assert source.exhausted and source.next_arrival() == float("inf")
    assert (frames + rest)[-1].t + 0.03 >= 10.0 and source.played == 4


def test_a_long_session_answers_every_question_and_keeps_only_the_last_turns_events():
    clock = VirtualClock()
    model = ScriptedChatModel(clock, ["action inference. Two and two.", "It is four."], prefill_s=0.05,
                              per_token_s=0.01, answer_replies=["It is four."])
    backends = Backends(is_speech=energy_vad, asr=ScriptedASR(clock, SCRIPT, cost_s=0.1), inference_model=model,
                        answer_model=model, tts=FakeTTS(clock, cost_s=0.02, seconds_per_char=0.02))
    source = ClipCycle(clips(), gap_s=3.0, total_s=120.0, frame_ms=30)
    rows_log = []

    class Out:
        def write(self, line):
            rows_log.append(line)

        def flush(self):
            pass

    recorder = TurnRecorder(source, Out())
    pipeline = Pipeline(load_config(), backends, clock, ListSink(), mode="livemind", on_event=recorder, keep_turns=1)
    pipeline.run_source(source)
    rows = recorder.rows
    assert source.played == len(rows) == 23  # 120 s of 5.3 s question-and-gap cycles (the last one cut short)
    assert all(r["answered"] for r in rows) and len(rows_log) == len(rows)
    assert {r["clip"] for r in rows} == {"a", "b"}
    assert all(0 < r["first_audio_s"] < 2.0 for r in rows)
    assert {e.turn for e in pipeline.events} == {rows[-1]["turn"]}  # bounded: the last turn's events only
    summary = summarise(rows, source.played, minutes=2.0)
    assert summary["turns_answered"] == 23 and summary["questions_asked"] == 23


def test_the_summary_reports_memory_growth_after_warm_up_and_latency_drift():
    rows = [{"turn": i, "audio_t": 60.0 * i, "answered": True, "rss_mb": 100.0 + (i >= 5) * 10 + i * 0.1,
             "first_audio_s": 1.0 if i < 10 else 1.2} for i in range(30)]
    summary = summarise(rows, asked=30, minutes=30.0)
    assert summary["rss_after_warm_up_mb"] == pytest.approx(110.5)
    assert summary["rss_growth_pct"] == pytest.approx(100 * (112.9 - 110.5) / 110.5, abs=0.01)
    assert summary["first_audio_median_first_10_min_s"] == 1.0
    assert summary["first_audio_median_last_10_min_s"] == 1.2 and summary["first_audio_drift_pct"] == 20.0
