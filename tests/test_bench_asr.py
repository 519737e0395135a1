"""`bench asr`: its arithmetic on hand-made runs, its input handling, and (integration) a real run."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from voice_livemind.asr import Word
from voice_livemind.audio.source import AudioError
from voice_livemind.bench import asr as bench
from voice_livemind.bench import asr_report as report
from voice_livemind.bench import asr_metrics as m
from voice_livemind.cli import main
from voice_livemind.config import load_config

FIXTURES = Path(__file__).resolve().parents[1] / "audio_fixtures"


def w(start, end, text):
    return Word(start, end, " " + text)


# -- statistics ---------------------------------------------------------------------------------------


def test_percentile_matches_numpy_linear_interpolation():
    values = [3.0, 1.0, 10.0, 2.0, 7.5, 4.0, 4.0]
    for q in (0, 10, 50, 90, 100):
        assert m.percentile(values, q) == pytest.approx(np.percentile(values, q))
    assert m.percentile(list(range(1, 11)), 90) == pytest.approx(9.1)
    assert m.percentile([], 90) is None and m.median([2.0]) == 2.0


def test_slope():
    assert m.slope([0, 1, 2, 3], [1, 3, 5, 7]) == pytest.approx(2.0)
    assert m.slope([1, 1], [0, 5]) is None and m.slope([1], [1]) is None


def test_wer_uses_whispers_normaliser_for_numbers_currency_and_contractions():
    # the long question's reference says "$15", Whisper wrote "15 dollars": not an error
    assert m.corpus_wer([("A ticket costs $15.", "a ticket costs 15 dollars")]) == 0.0
    assert m.corpus_wer([("I won't go at twenty past two", "I will not go at 20 past 2")]) == 0.0
    assert m.corpus_wer([("It costs $15.", "it costs 50 dollars")]) == pytest.approx(1 / 3)


def test_wer_ignores_case_and_punctuation_and_pools_over_files():
    assert m.corpus_wer([("The birch canoe.", "the Birch canoe")]) == 0.0
    # 1 error in 4 words + 1 error in 2 words: pooled 2 / 6, not the mean of 0.25 and 0.5
    pooled = m.corpus_wer([("a b c d", "a b c x"), ("e f", "e")])
    assert pooled == pytest.approx(2 / 6)
    assert m.corpus_wer([("", "anything")]) is None  # silence files do not count in WER


# -- commit lag and stability -------------------------------------------------------------------------


def update(t, pos, committed, unstable="", turn=1, final=False, compute=0.5):
    return m.Update(turn, t, pos, tuple(committed), unstable, compute, final)


def test_commit_lag_with_and_without_compute():
    a, b, c = w(0.2, 0.5, "what"), w(0.5, 0.8, "is"), w(0.9, 1.4, "this?")
    updates = [
        update(1.5, 1.0, [], "what is"),  # pass over 1.0 s of audio, finished at clock 1.5
        update(2.6, 2.0, [a, b], "this?"),  # commits "what is" at clock 2.6, having heard 2.0 s
        update(3.0, 2.6, [a, b, c], final=True),
    ]
    lags = m.commit_lags(updates)
    assert [s.text for s in lags] == ["what", "is", "this?"]
    assert [s.lag_s for s in lags] == pytest.approx([2.1, 1.8, 1.6])
    assert [s.lag_audio_s for s in lags] == pytest.approx([1.5, 1.2, 1.2])


def test_commit_lag_counts_each_turn_separately():
    first, second = w(0.1, 0.4, "yes."), w(5.0, 5.5, "no.")
    updates = [update(1.0, 1.0, [first], final=True, turn=1), update(6.0, 6.0, [second], final=True, turn=2)]
    assert [s.lag_s for s in m.commit_lags(updates)] == pytest.approx([0.6, 0.5])


def test_committed_revisions_and_unstable_changes():
    a, b, c = w(0, 1, "the"), w(1, 2, "birch"), w(2, 3, "canoe")
    steady = [update(1, 1, [], "the birch"), update(2, 2, [a], "birch canoe"), update(3, 3, [a, b, c], final=True)]
    assert m.committed_revisions(steady) == 0
    assert m.unstable_changes(steady) == (0, 4)  # "the birch" then "birch canoe": every guess held
    revised = [update(1, 1, [a, b]), update(2, 2, [a, w(1, 2, "perch")])]
    assert m.committed_revisions(revised) == 1
    wobbly = [update(1, 1, [], "the perch can"), update(2, 2, [a], "birch")]  # "perch" changed, "can" gone
    assert m.unstable_changes(wobbly) == (2, 3)


# -- end of utterance --------------------------------------------------------------------------------


REF = m.Reference("a b c", speech_start=0.5, speech_end=6.0, pauses=((2.0, 2.4), (4.0, 4.8)))


def test_end_after_the_true_end_gives_the_delay():
    eou = m.end_of_utterance([m.End(1, 6.7, 6.6, 6.05)], REF)
    assert eou.delay_s == pytest.approx(0.7) and eou.delay_audio_s == pytest.approx(0.6)
    assert eou.false_cutoffs == [] and eou.reason == "vad"


def test_an_end_decided_inside_the_utterance_is_a_false_cutoff_attributed_to_its_pause():
    ends = [m.End(1, 4.7, 4.6, 4.0), m.End(2, 3.0, 2.9, 2.9), m.End(3, 6.8, 6.6, 6.0)]
    eou = m.end_of_utterance(ends, REF)
    assert [c["pause"] for c in eou.false_cutoffs] == [[4.0, 4.8], None]  # 2.9 s is after the first pause
    assert eou.false_cutoffs[0]["pause_s"] == pytest.approx(0.8)
    assert eou.delay_s == pytest.approx(0.8)  # the first end at or after the true end


def test_an_end_of_input_is_not_an_end_of_utterance_measurement():
    eou = m.end_of_utterance([m.End(1, 6.2, 6.1, 6.0, "end_of_input")], REF)
    assert eou.delay_s is None and eou.reason is None and eou.false_cutoffs == []


def test_without_a_known_speech_end_nothing_is_scored():
    eou = m.end_of_utterance([m.End(1, 1.0, 1.0, 0.5)], m.Reference("text"))
    assert eou.delay_s is None and eou.false_cutoffs == []


# -- summary -----------------------------------------------------------------------------------------


def record(name, reference, streaming, offline, lags, eou=0.62, eou_audio=0.6, cutoffs=(), pauses=(), speech_end=3.0,
           duration=4.0, compute=1.0):
    empty = not m.wer_normalise(reference)
    return {"file": name, "duration_s": duration, "reference": reference, "streaming": streaming, "offline": offline,
            "streaming_wer": None if empty else m.corpus_wer([(reference, streaming)]),
            "offline_wer": None if empty else m.corpus_wer([(reference, offline)]),
            "reference_words": 3, "words_on_silence": m.word_count(streaming) if empty else None,
            "offline_words_on_silence": m.word_count(offline) if empty else None, "compute_s": compute,
            "offline_compute_s": 0.1, "committed_revisions": 0, "unstable_words": 4, "unstable_changed": 1,
            "speech_end": None if empty else speech_end, "eou_delay_s": None if empty else eou,
            "eou_delay_audio_s": None if empty else eou_audio, "false_cutoffs": list(cutoffs),
            "pauses": [list(p) for p in pauses], "lags": lags,
            "commit_lag_median_s": m.median([x[1] for x in lags]), "commit_lag_audio_median_s": m.median([x[2] for x in lags])}


def test_summary_has_the_required_keys_and_checks_the_goals():
    config = load_config(overrides=["vad.end_model=none"])  # silence alone: the goals count from the 600 ms hangover
    records = [
        record("a.wav", "red green blue", "red green blue", "red green blue",
               [[0.5, 1.0, 0.8, "red"], [1.0, 1.2, 0.9, "green"], [1.5, 1.4, 1.0, "blue"]]),
        record("b.wav", "red green blue", "red green glue", "red green glue", [[0.5, 2.0, 1.5, "red"]], eou=0.7,
               cutoffs=[{"audio_t": 1.0, "decided_at": 1.6, "pause": [1.0, 1.4], "pause_s": 0.4}],
               pauses=[(1.0, 1.4), (2.0, 2.7)], duration=8.0),
        record("silence.wav", "", "you", "", [], duration=10.0, compute=0.0),
    ]
    s = report.summarise(records, [{"file": "x.wav", "reason": "no transcript"}], config)
    for key in ("streaming_wer", "offline_wer", "commit_lag_median_s", "commit_lag_p90_s", "rtf",
                "eou_delay_median_s", "false_cutoffs", "words_on_silence"):
        assert key in s, key
    assert s["streaming_wer"] == pytest.approx(1 / 6, abs=1e-4) and s["wer_ratio"] == pytest.approx(1.0)
    assert s["commit_lag_median_s"] == pytest.approx(1.3) and s["commit_lag_no_compute_median_s"] == pytest.approx(0.95)
    assert s["rtf"] == pytest.approx(2.0 / 22.0, abs=1e-3)
    assert s["eou_delay_median_s"] == pytest.approx(0.66)
    assert s["false_cutoffs"] == 1 and s["false_cutoffs_at_pauses_below_hangover"] == 1
    assert s["pauses_below_hangover"] == 1 and s["pauses_at_or_above_hangover"] == 1
    assert s["words_on_silence"] == 1 and s["silence_files"] == ["silence.wav"]
    assert s["long_file"] == "b.wav" and s["unstable_change_rate"] == pytest.approx(3 / 12)
    goals = s["goals"]
    assert goals["streaming_wer_vs_offline"]["met"] and goals["eou_delay_median"]["met"]
    assert not goals["no_false_cutoffs_below_hangover"]["met"] and not goals["no_text_on_silence_or_noise"]["met"]
    assert "| goal |" in report.table(s, records)
    with_model = report.summarise(records, [], load_config())  # smart-turn: the limit is max_silence_ms (1.5 s)
    assert with_model["pauses_below_hangover"] == 2 and with_model["pauses_at_or_above_hangover"] == 0


# -- inputs ------------------------------------------------------------------------------------------


def write_wav(path: Path, seconds=0.5):
    soundfile.write(str(path), np.zeros(int(16000 * seconds), dtype=np.int16), 16000, subtype="PCM_16")
    return path


def test_references_from_json_and_txt(tmp_path):
    write_wav(tmp_path / "a.wav")
    (tmp_path / "a.json").write_text(json.dumps({"text": "Hi.", "speech_end": 0.4, "pauses": [[0.1, 0.2]]}))
    write_wav(tmp_path / "b.wav")
    (tmp_path / "b.txt").write_text("plain words\n")
    found, skipped = bench.find_inputs(tmp_path)
    assert skipped == []
    assert found[0][1] == m.Reference("Hi.", None, 0.4, ((0.1, 0.2),))
    assert found[1][1] == m.Reference("plain words")


def test_bad_inputs_are_skipped_with_a_reason(tmp_path):
    write_wav(tmp_path / "no_text.wav")
    write_wav(tmp_path / "bad_json.wav")
    (tmp_path / "bad_json.json").write_text("{not json")
    write_wav(tmp_path / "no_text_key.wav")
    (tmp_path / "no_text_key.json").write_text('{"speech_end": 1.0}')
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really a wav")
    (tmp_path / "broken.txt").write_text("words")
    found, skipped = bench.find_inputs(tmp_path)
    assert found == []
    reasons = {s["file"]: s["reason"] for s in skipped}
    assert "no transcript" in reasons["no_text.wav"]
    assert "not valid JSON" in reasons["bad_json.wav"]
    assert '"text"' in reasons["no_text_key.wav"]
    assert "cannot read audio" in reasons["broken.wav"]


def test_a_folder_without_audio_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing to hear")
    with pytest.raises(AudioError, match="no audio files"):
        bench.find_inputs(tmp_path)
    with pytest.raises(AudioError, match="not a folder"):
        bench.find_inputs(tmp_path / "missing")


def test_cli_reports_bad_folders_without_a_traceback(tmp_path, capsys):
    assert main(["bench", "asr", str(tmp_path), "--out", str(tmp_path / "out")]) == 3
    assert "no audio files" in capsys.readouterr().err
    (tmp_path / "x.wav").write_bytes(b"junk")
    (tmp_path / "x.txt").write_text("words")
    assert main(["bench", "asr", str(tmp_path), "--out", str(tmp_path / "out"), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "skipped x.wav: cannot read audio" in err and "no file" in err


# -- the real thing ----------------------------------------------------------------------------------


@pytest.mark.integration
def test_bench_asr_on_two_fixtures(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    for name in ("short_question", "silence_10s"):
        for suffix in (".wav", ".json"):
            shutil.copy(FIXTURES / f"{name}{suffix}", folder)
    (folder / "unlabelled.wav").write_bytes((FIXTURES / "real_example2.wav").read_bytes())  # no transcript
    out = tmp_path / "out"
    assert main(["bench", "asr", str(folder), "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    required = ["streaming_wer", "offline_wer", "commit_lag_median_s", "commit_lag_p90_s", "rtf",
                "eou_delay_median_s", "false_cutoffs", "words_on_silence"]
    assert all(summary[k] is not None for k in required), summary
    assert summary["files"] == 2 and summary["skipped"][0]["file"] == "unlabelled.wav"
    assert summary["streaming_wer"] <= 0.2 and summary["offline_wer"] <= 0.2
    assert 0 < summary["commit_lag_p90_s"] < 5 and summary["commit_lag_median_s"] <= summary["commit_lag_p90_s"]
    assert 0 < summary["rtf"] < 3
    # the default end of turn: smart-turn asked after 200 ms of silence (short_question sounds finished:
    # about 0.25 s plus the model's call), else 1.5 s of silence; never before the end of speech
    assert 0.15 <= summary["eou_delay_median_s"] <= 1.7
    assert summary["false_cutoffs"] == 0 and summary["words_on_silence"] == 0
    files = json.loads((out / "per_file.json").read_text())
    assert {f["file"] for f in files} == {"short_question.wav", "silence_10s.wav"}
    assert (out / "table.md").exists() and (out / "commit_lag_long.png").stat().st_size > 1000


def test_lag_trend_over_the_long_file():
    steady = {"lags": [[t, 1.0 + (0.5 if t < 10 else 0.0), 0.8, "w"] for t in range(30)]}
    trend = report.long_lag_trend(steady)
    assert trend["long_lag_first_third_median_s"] == pytest.approx(1.5)
    assert trend["long_lag_middle_third_median_s"] == trend["long_lag_last_third_median_s"] == pytest.approx(1.0)
    growing = {"lags": [[t, 1.0 + t / 10, 0.8, "w"] for t in range(30)]}
    assert report.long_lag_trend(growing)["long_lag_slope_s_per_min"] == pytest.approx(6.0)


# -- reading the pipeline's events -------------------------------------------------------------------


class EventPipeline:
    """Stands in for the Pipeline: emits a scripted list of events (the bench must read nothing else)."""

    script: list = []

    def __init__(self, config, backends, clock, sink, mode=None, on_event=None):
        self.on_event = on_event

    def run(self, samples):
        for event in self.script:
            self.on_event(event)
        return list(self.script)


def test_stream_reads_updates_and_ends_from_the_events(monkeypatch):
    from voice_livemind import events as ev

    a, b = w(0.5, 0.9, "hello"), w(1.0, 1.4, "there.")
    EventPipeline.script = [
        ev.SpeechStarted(0.5, 1, 0.5),
        ev.TranscriptUpdate(1.3, 1, "", "hello", compute_s=0.3, heard_until=1.0),
        ev.TranscriptUpdate(2.3, 1, "hello", "there.", compute_s=0.3, heard_until=2.0, words=(a,)),
        ev.SpeechEnded(2.1, 1, 1.45, detected_audio_t=2.05),
        ev.TranscriptUpdate(2.4, 1, "hello there.", "", final=True, compute_s=0.1, heard_until=2.0, words=(a, b)),
    ]
    monkeypatch.setattr("voice_livemind.pipeline.Pipeline", EventPipeline)
    updates, ends, events = bench.stream(np.zeros(16000, dtype=np.float32), load_config(), None, None)
    assert events == EventPipeline.script
    assert [(u.t, u.audio_pos, u.committed, u.final) for u in updates] == [
        (1.3, 1.0, (), False), (2.3, 2.0, (a,), False), (2.4, 2.0, (a, b), True)]
    assert ends == [m.End(1, 2.1, 2.05, 1.45, "vad")]
    lags = m.commit_lags(updates)
    assert [s.lag_audio_s for s in lags] == pytest.approx([1.1, 0.6])


def test_stream_refuses_events_without_what_the_measures_need(monkeypatch):
    from voice_livemind import events as ev

    monkeypatch.setattr("voice_livemind.pipeline.Pipeline", EventPipeline)
    silent = np.zeros(16000, dtype=np.float32)
    EventPipeline.script = [ev.TranscriptUpdate(1.3, 1, "hello", "", compute_s=0.3, heard_until=1.0)]
    with pytest.raises(RuntimeError, match="TranscriptUpdate.words"):
        bench.stream(silent, load_config(), None, None)
    EventPipeline.script = [ev.TranscriptUpdate(1.3, 1, "hello", "", compute_s=0.3, words=(w(0.5, 0.9, "hello"),))]
    with pytest.raises(RuntimeError, match="TranscriptUpdate.heard_until"):
        bench.stream(silent, load_config(), None, None)
    EventPipeline.script = [ev.SpeechEnded(2.1, 1, 1.45)]
    with pytest.raises(RuntimeError, match="SpeechEnded.detected_audio_t"):
        bench.stream(silent, load_config(), None, None)


# -- notes while listening ----------------------------------------------------------------------------


def test_note_coverage_over_the_turns_of_a_file():
    from voice_livemind import events as ev

    events = [  # a cut-off in a pause ends turn 1 at 2.0 s; the true end of speech is 6.0 s, in turn 2
        ev.SegmentsClosed(1.0, 1, ("One.",)), ev.Note(1.5, 1, "inference", "n", ("One.",)),
        ev.SegmentsClosed(1.9, 1, ("One.", "Two.")), ev.SpeechEnded(2.6, 1, 2.0),
        ev.SegmentsClosed(4.0, 2, ("Three.",)), ev.NoteYielded(4.5, 2, ("Three.",), "action"),
        ev.SegmentsClosed(5.5, 2, ("Three.", "Four.")), ev.Note(5.9, 2, "inference", "n", ("Three.",)),
        ev.Note(6.2, 2, "inference", "n", ("Four.",)), ev.SpeechEnded(6.7, 2, 6.1),
    ]
    assert m.note_coverage(events, 6.0) == {"notes": 3, "notes_yielded": 1, "segments_closed": 4,
                                            "segments_noted": 2, "note_coverage": 0.5}
    # without a sidecar the VAD's estimate (6.1 s) ends turn 2: the note at 6.2 s still comes after it
    assert m.note_coverage(events, None)["segments_noted"] == 2
    assert m.note_coverage([], None) == {"notes": 0, "notes_yielded": 0, "segments_closed": 0, "segments_noted": 0,
                                         "note_coverage": None}


def test_summary_and_table_show_the_notes_in_livemind_mode():
    lags = [[0.5, 1.0, 0.8, "one"]]
    base = [record("a.wav", "one two three", "one two three", "one two three", lags),
            record("b.wav", "one two three", "one two three", "one two three", lags)]
    transcribe = report.summarise(base, [], load_config())
    assert "segments_closed" not in transcribe and "Notes while listening" not in report.table(transcribe, base)
    notes = [{"notes": 3, "notes_yielded": 1, "segments_closed": 4, "segments_noted": 3},
             {"notes": 1, "notes_yielded": 0, "segments_closed": 4, "segments_noted": 1}]
    livemind = [dict(r, **n) for r, n in zip(base, notes)]
    s = report.summarise(livemind, [], load_config())
    assert (s["notes"], s["segments_closed"], s["segments_noted"]) == (4, 8, 4)
    assert s["note_coverage_median"] == pytest.approx(0.5) and s["note_coverage_pooled"] == pytest.approx(0.5)
    assert "| a.wav | 3 | 1 | 3 / 4 |" in report.table(s, livemind)


def test_the_streaming_transcript_of_a_resumed_turn_is_its_last_final_update():
    first = [Word(0.0, 0.4, " A"), Word(0.4, 0.9, " farmer.")]
    whole = first + [Word(1.5, 1.9, " How"), Word(1.9, 2.3, " big?")]
    updates = [update(1.0, 0.9, first, final=True), update(3.0, 2.3, whole, final=True),
               update(4.0, 3.5, [Word(3.0, 3.4, " Thanks.")], turn=2, final=True)]
    assert m.final_text(updates) == "A farmer. How big? Thanks."
