"""`voice-livemind bench asr [FOLDER] [--out DIR]`: streaming recognition and end of utterance on audio files.

Every audio file in FOLDER (default: audio_fixtures/) with a transcript beside it (`NAME.json` with `text`
and, when known, `speech_start`/`speech_end`/`pauses`; or a plain `NAME.txt`) goes through the pipeline's
own VAD and streaming ASR (Pipeline in `transcribe` mode: the same Endpointer, WebRtcClassifier,
StreamingASR, FasterWhisperBackend and config) on a FastForwardClock, so every recognition pass costs its
real compute time while the audio "arrives" in between. The same model then transcribes each file offline
in one call. Lags are measured twice: with compute time (clock time of the commit) and without it (the
audio the committing pass had heard: what the policy alone costs). Everything is read from the pipeline's
events (TranscriptUpdate.words / heard_until, SpeechEnded.detected_audio_t), nothing from its insides.
`--mode livemind` runs the whole pipeline and also reports the notes written while listening and how many
of the segments closed before the end of speech they covered.

Writes DIR/summary.json, DIR/per_file.json, DIR/table.md and DIR/commit_lag_long.png.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from voice_livemind.audio.source import AudioError, read_sidecar  # light: no model imports
from voice_livemind.bench import asr_metrics as m
from voice_livemind.bench.common import AUDIO_SUFFIXES, FIXTURES
from voice_livemind.cli_options import add_config_options, config_from_args

EXIT_OK, EXIT_AUDIO = 0, 3


class SkipFile(Exception):
    """This file cannot be benchmarked; the message says why."""


def add_arguments(parser) -> None:
    parser.add_argument("folder", nargs="?", default=str(FIXTURES),
                        help="audio files with NAME.json ({'text', 'speech_start', 'speech_end', 'pauses'}) or "
                             "NAME.txt transcripts (default: the repo's audio_fixtures/)")
    parser.add_argument("--out", default="runs/asr", help="output folder (default: runs/asr)")
    add_config_options(parser)
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="only files whose name contains TEXT (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--mode", choices=["transcribe", "livemind"], default="transcribe",
                        help="transcribe: recognition alone (default) | livemind: the whole pipeline, notes and "
                             "answers sharing the lane, to see whether recognition keeps up while notes are written")


# -- inputs -------------------------------------------------------------------------------------------


def read_reference(audio_path: Path) -> m.Reference:
    """The transcript (and true speech bounds, pauses) beside an audio file; SkipFile when unusable."""
    try:
        sidecar = read_sidecar(audio_path)
    except AudioError as err:
        raise SkipFile(str(err)) from err
    if sidecar is None:
        raise SkipFile(f'no transcript: put {audio_path.stem}.json (with "text") or {audio_path.stem}.txt beside it')
    if sidecar.text is None:
        raise SkipFile(f'{audio_path.stem}.json has no "text" string')
    return m.Reference(sidecar.text, sidecar.speech_start, sidecar.speech_end, sidecar.pauses)


def find_inputs(folder: Path, only: list[str] = ()) -> tuple[list[tuple[Path, m.Reference]], list[dict]]:
    """The benchmarkable files of a folder, and the skipped ones with the reason."""
    if not folder.is_dir():
        raise AudioError(f"{folder} is not a folder of audio files")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if only:
        paths = [p for p in paths if any(o in p.name for o in only)]
    if not paths:
        raise AudioError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in {folder}"
                         + (f" matching {only}" if only else ""))
    found, skipped = [], []
    for path in paths:
        try:
            _check_readable(path)
            found.append((path, read_reference(path)))
        except SkipFile as err:
            skipped.append({"file": path.name, "reason": str(err)})
    return found, skipped


def _check_readable(path: Path) -> None:
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception as err:  # libsndfile says why in its own words
        raise SkipFile(f"cannot read audio ({type(err).__name__}: {str(err).strip()[:160]})") from err
    if info.frames == 0:
        raise SkipFile("the file holds no samples")


# -- one file -----------------------------------------------------------------------------------------


def stream(samples, config, asr_backend, clock, mode="transcribe", models=None):
    """Run the pipeline's VAD + streaming ASR over the samples; returns (updates, ends, events), the first
    two read from the events alone. `models`: (inference model, answer model, tts) for the livemind mode."""
    from voice_livemind import events as ev
    from voice_livemind.audio.sink import NullSink
    from voice_livemind.bench.common import fresh_backends
    from voice_livemind.pipeline import Pipeline

    updates: list[m.Update] = []
    ends: list[m.End] = []

    def on_event(event) -> None:
        if isinstance(event, ev.TranscriptUpdate):
            updates.append(m.Update(event.turn, event.t, event.heard_until, tuple(event.words), event.unstable,
                                    event.compute_s, event.final))
        elif isinstance(event, ev.SpeechEnded):
            ends.append(m.End(event.turn, event.t, event.detected_audio_t, event.audio_t, event.reason))

    events = Pipeline(config, fresh_backends(config, asr_backend, *(models or ())), clock, NullSink(), mode=mode,
                      on_event=on_event).run(samples)
    check_events(events)
    return updates, ends, events


def check_events(events) -> None:
    """The measures need what the events carry (committed words with times, the audio each pass heard, how
    far the VAD had heard at each end decision): a pipeline that leaves them empty would give silently
    wrong lags, so it is an error."""
    from voice_livemind import events as ev

    for event in events:
        if isinstance(event, ev.TranscriptUpdate) and event.stable.strip() and not event.words:
            raise RuntimeError(f"TranscriptUpdate at {event.t:.2f} s has committed text but no words: the "
                               "pipeline must fill TranscriptUpdate.words")
        if isinstance(event, ev.TranscriptUpdate) and event.words and event.heard_until <= 0:
            raise RuntimeError(f"TranscriptUpdate at {event.t:.2f} s has words but no heard_until: the "
                               "pipeline must fill TranscriptUpdate.heard_until")
        if isinstance(event, ev.SpeechEnded) and event.detected_audio_t < event.audio_t - 1e-6:
            raise RuntimeError(f"SpeechEnded at {event.t:.2f} s was decided at {event.detected_audio_t:.2f} s of "
                               f"audio, before the speech end it names ({event.audio_t:.2f} s): the pipeline "
                               "must fill SpeechEnded.detected_audio_t")


def bench_file(path: Path, reference: m.Reference, config, asr_backend, mode="transcribe", models=None) -> dict:
    from voice_livemind.asr.words import join_words
    from voice_livemind.clock import FastForwardClock, RealClock

    samples = _load(path, config)
    duration = samples.shape[0] / config.audio.sample_rate
    updates, ends, events = stream(samples, config, asr_backend, FastForwardClock(), mode, models)
    clock = RealClock()
    offline_words = asr_backend.transcribe(samples, "")
    offline_compute = clock.now()

    streaming = m.final_text(updates)
    offline = join_words(offline_words)
    lags = m.commit_lags(updates)
    changed, unstable_total = m.unstable_changes(updates)
    eou = m.end_of_utterance(ends, reference)
    empty = not m.wer_normalise(reference.text)
    return {
        "file": path.name,
        "duration_s": round(duration, 3),
        "reference": reference.text,
        "streaming": streaming,
        "offline": offline,
        "streaming_wer": None if empty else m.corpus_wer([(reference.text, streaming)]),
        "offline_wer": None if empty else m.corpus_wer([(reference.text, offline)]),
        "reference_words": m.word_count(m.wer_normalise(reference.text)),
        "words_on_silence": m.word_count(streaming) if empty else None,
        "offline_words_on_silence": m.word_count(offline) if empty else None,
        "turns": len({u.turn for u in updates}),
        "passes": sum(1 for u in updates if not u.final),
        "compute_s": round(sum(u.compute_s for u in updates), 3),
        "offline_compute_s": round(offline_compute, 3),
        "commit_lag_median_s": _round(m.median([s.lag_s for s in lags])),
        "commit_lag_p90_s": _round(m.percentile([s.lag_s for s in lags], 90)),
        "commit_lag_audio_median_s": _round(m.median([s.lag_audio_s for s in lags])),
        "committed_revisions": m.committed_revisions(updates),
        "unstable_words": unstable_total,
        "unstable_changed": changed,
        "speech_end": reference.speech_end,
        "eou_delay_s": _round(eou.delay_s),
        "eou_delay_audio_s": _round(eou.delay_audio_s),
        "eou_reason": eou.reason,
        "false_cutoffs": eou.false_cutoffs,
        "pauses": [list(p) for p in reference.pauses],
        "ends": [asdict(e) for e in ends],
        "lags": [[round(s.word_end, 3), round(s.lag_s, 3), round(s.lag_audio_s, 3), s.text] for s in lags],
        **(m.note_coverage(events, reference.speech_end) if mode == "livemind" else {}),
    }


def _load(path: Path, config):
    from voice_livemind.audio.source import load_audio

    try:
        return load_audio(path, config.audio.sample_rate)
    except AudioError as err:
        raise SkipFile(str(err)) from err
    except Exception as err:  # a decoder failing in its own way is still only this file's problem
        raise SkipFile(f"cannot read {path.name}: {type(err).__name__}: {err}") from err


def _round(value, digits: int = 3):
    return None if value is None else round(value, digits)


# -- all files ----------------------------------------------------------------------------------------


def summarise(records: list[dict], skipped: list[dict], config) -> dict:
    lags = [lag for r in records for lag in r["lags"]]
    with_text = [r for r in records if r["streaming_wer"] is not None]
    empty = [r for r in records if r["words_on_silence"] is not None]
    timed = [r for r in records if r["speech_end"] is not None]
    cutoffs = [c for r in records for c in r["false_cutoffs"]]
    hangover_s = config.vad.hangover_ms / 1000
    audio_s = sum(r["duration_s"] for r in records)
    streaming_wer = m.corpus_wer([(r["reference"], r["streaming"]) for r in with_text])
    offline_wer = m.corpus_wer([(r["reference"], r["offline"]) for r in with_text])
    unstable = sum(r["unstable_words"] for r in records)
    long = max(with_text, key=lambda r: r["duration_s"], default=None)
    summary = {
        "files": len(records),
        "skipped": skipped,
        "audio_s": round(audio_s, 3),
        "streaming_wer": _round(streaming_wer, 4),
        "offline_wer": _round(offline_wer, 4),
        "wer_ratio": _round(streaming_wer / offline_wer, 3) if streaming_wer is not None and offline_wer else None,
        "committed_words": len(lags),
        "committed_revisions": sum(r["committed_revisions"] for r in records),
        "unstable_change_rate": _round(sum(r["unstable_changed"] for r in records) / unstable, 4) if unstable else None,
        "commit_lag_median_s": _round(m.median([x[1] for x in lags])),
        "commit_lag_p90_s": _round(m.percentile([x[1] for x in lags], 90)),
        "commit_lag_no_compute_median_s": _round(m.median([x[2] for x in lags])),
        "commit_lag_no_compute_p90_s": _round(m.percentile([x[2] for x in lags], 90)),
        "rtf": _round(sum(r["compute_s"] for r in records) / audio_s) if audio_s else None,
        "offline_rtf": _round(sum(r["offline_compute_s"] for r in records) / audio_s) if audio_s else None,
        "eou_delay_median_s": _round(m.median([r["eou_delay_s"] for r in timed if r["eou_delay_s"] is not None])),
        "eou_delay_p90_s": _round(m.percentile([r["eou_delay_s"] for r in timed if r["eou_delay_s"] is not None], 90)),
        "eou_delay_no_compute_median_s": _round(m.median([r["eou_delay_audio_s"] for r in timed
                                                          if r["eou_delay_audio_s"] is not None])),
        "eou_delay_no_compute_p90_s": _round(m.percentile([r["eou_delay_audio_s"] for r in timed
                                                           if r["eou_delay_audio_s"] is not None], 90)),
        "eou_missed": [r["file"] for r in timed if r["eou_delay_s"] is None],
        "false_cutoffs": len(cutoffs),
        "false_cutoffs_at_pauses_below_hangover": sum(1 for c in cutoffs if c["pause_s"] is not None
                                                      and c["pause_s"] < hangover_s),
        "pauses_below_hangover": sum(1 for r in records for a, b in r["pauses"] if b - a < hangover_s),
        "pauses_at_or_above_hangover": sum(1 for r in records for a, b in r["pauses"] if b - a >= hangover_s),
        "words_on_silence": sum(r["words_on_silence"] for r in empty) if empty else None,
        "offline_words_on_silence": sum(r["offline_words_on_silence"] for r in empty) if empty else None,
        "silence_files": [r["file"] for r in empty],
        "long_file": long["file"] if long else None,
        "config": {"model": config.asr.model, "device": config.asr.device, "compute_type": config.asr.compute_type,
                   "beam_size": config.asr.beam_size, "interval_s": config.asr.interval_s,
                   "agreement_n": config.asr.agreement_n, "vad_frame_ms": config.vad.frame_ms,
                   "hangover_ms": config.vad.hangover_ms,
                   "transcript_hold_ms": getattr(config.vad, "transcript_hold_ms", 0)},
    }
    if long:
        summary.update(long_lag_trend(long))
    summary.update(notes_summary(records))
    summary["goals"] = goals(summary, hangover_s)
    return summary


def notes_summary(records: list[dict]) -> dict:
    """--mode livemind: the notes written while listening and the share of the segments closed before the
    end of speech they covered (median over files with a closed segment, and pooled)."""
    noting = [r for r in records if "segments_closed" in r]
    if not noting:
        return {}
    closed = sum(r["segments_closed"] for r in noting)
    noted = sum(r["segments_noted"] for r in noting)
    return {"notes": sum(r["notes"] for r in noting), "notes_yielded": sum(r["notes_yielded"] for r in noting),
            "segments_closed": closed, "segments_noted": noted,
            "note_coverage_median": _round(m.median([r["segments_noted"] / r["segments_closed"]
                                                     for r in noting if r["segments_closed"]])),
            "note_coverage_pooled": _round(noted / closed) if closed else None}


def long_lag_trend(record: dict) -> dict:
    """Does the lag grow over the longest file? Its least-squares slope per minute, and the median lag of
    its first, middle and last thirds (by word end). The first third is cheaper by nature (the audio
    buffer is still filling up to `buffer_trim_s`), so growth is judged from the middle to the last third."""
    lags = record["lags"]
    if len(lags) < 3:
        return {}
    start, end = min(x[0] for x in lags), max(x[0] for x in lags)
    third = (end - start) / 3
    parts = [[x[1] for x in lags if start + i * third <= x[0] <= start + (i + 1) * third] for i in range(3)]
    trend = m.slope([x[0] for x in lags], [x[1] for x in lags])
    return {"long_lag_slope_s_per_min": _round(None if trend is None else 60 * trend),
            "long_lag_first_third_median_s": _round(m.median(parts[0])),
            "long_lag_middle_third_median_s": _round(m.median(parts[1])),
            "long_lag_last_third_median_s": _round(m.median(parts[2]))}


def goals(s: dict, hangover_s: float) -> dict:
    def goal(value, target, ok):
        return {"value": value, "target": target, "met": None if value is None else bool(ok)}

    ratio = s["wer_ratio"]
    growth = (s.get("long_lag_last_third_median_s") or 0) - (s.get("long_lag_middle_third_median_s") or 0)
    return {
        "streaming_wer_vs_offline": goal(ratio, "<= 1.2 x offline WER",
                                         s["streaming_wer"] is not None and s["streaming_wer"] <= 1.2 * (s["offline_wer"] or 0)),
        "commit_lag_median": goal(s["commit_lag_median_s"], "<= 1.5 s", (s["commit_lag_median_s"] or 0) <= 1.5),
        "lag_does_not_grow": goal(_round(growth) if s.get("long_lag_middle_third_median_s") is not None else None,
                                  "long file: last third median lag <= middle third + 0.25 s",
                                  s.get("long_lag_middle_third_median_s") is not None and growth <= 0.25),
        "eou_delay_median": goal(s["eou_delay_median_s"], f"<= {hangover_s + 0.06:.2f} s (hangover + 60 ms)",
                                 (s["eou_delay_median_s"] or 0) <= round(hangover_s + 0.06, 3)),
        "no_false_cutoffs_below_hangover": goal(s["false_cutoffs_at_pauses_below_hangover"], "0",
                                                s["false_cutoffs_at_pauses_below_hangover"] == 0),
        "no_text_on_silence_or_noise": goal(s["words_on_silence"], "0", s["words_on_silence"] == 0),
    }


# -- report -------------------------------------------------------------------------------------------


def table(summary: dict, records: list[dict]) -> str:
    fmt = lambda v, unit="": "n/a" if v is None else (f"{v:.3f}{unit}" if isinstance(v, float) else f"{v}{unit}")
    rows = ["| file | s | stream WER | offline WER | lag med s | lag no-compute s | EOU delay s | cut-offs | words |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        words = r["words_on_silence"] if r["words_on_silence"] is not None else r["reference_words"]
        rows.append(f"| {r['file']} | {r['duration_s']:.1f} | {fmt(r['streaming_wer'])} | {fmt(r['offline_wer'])} | "
                    f"{fmt(r['commit_lag_median_s'])} | {fmt(r['commit_lag_audio_median_s'])} | {fmt(r['eou_delay_s'])} | "
                    f"{len(r['false_cutoffs'])} | {words} |")
    rows += ["", "| goal | measured | target | met |", "|---|---|---|---|"]
    for name, g in summary["goals"].items():
        rows.append(f"| {name} | {fmt(g['value'])} | {g['target']} | {'n/a' if g['met'] is None else ('yes' if g['met'] else 'NO')} |")
    keys = ["streaming_wer", "offline_wer", "wer_ratio", "commit_lag_median_s", "commit_lag_p90_s",
            "commit_lag_no_compute_median_s", "commit_lag_no_compute_p90_s", "rtf", "offline_rtf",
            "eou_delay_median_s", "eou_delay_p90_s", "eou_delay_no_compute_median_s", "eou_delay_no_compute_p90_s",
            "false_cutoffs", "false_cutoffs_at_pauses_below_hangover", "words_on_silence", "offline_words_on_silence",
            "committed_revisions", "unstable_change_rate", "long_file", "long_lag_slope_s_per_min",
            "long_lag_first_third_median_s", "long_lag_middle_third_median_s", "long_lag_last_third_median_s"]
    if "segments_closed" in summary:
        rows += ["", "Notes while listening (segments closed before the end of speech, and covered by a note by then):",
                 "", "| file | notes | yielded | segments noted / closed |", "|---|---|---|---|"]
        rows += [f"| {r['file']} | {r['notes']} | {r['notes_yielded']} | {r['segments_noted']} / {r['segments_closed']} |"
                 for r in records]
        keys += ["notes", "notes_yielded", "segments_closed", "segments_noted", "note_coverage_median",
                 "note_coverage_pooled"]
    rows += ["", "| metric | value |", "|---|---|"] + [f"| {k} | {fmt(summary.get(k))} |" for k in keys]
    if summary["skipped"]:
        rows += ["", "skipped:"] + [f"- {s['file']}: {s['reason']}" for s in summary["skipped"]]
    return "\n".join(rows) + "\n"


def plot_lag(record: dict, path: Path, hangover_s: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lags = record["lags"]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot([x[0] for x in lags], [x[1] for x in lags], "o-", ms=3, lw=1, label="with compute time")
    ax.plot([x[0] for x in lags], [x[2] for x in lags], "s--", ms=3, lw=1, label="without (audio heard at commit)")
    ax.axhline(1.5, color="grey", lw=0.8, ls=":", label="goal: median <= 1.5 s")
    ax.set_xlabel("word end in the audio (s)")
    ax.set_ylabel("commit lag (s)")
    ax.set_title(f"commit lag over {record['file']}")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args) -> int:
    from tqdm import tqdm

    from voice_livemind.asr.whisper_backend import FasterWhisperBackend

    config = config_from_args(args)
    inputs, skipped = find_inputs(Path(args.folder), args.only)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"loading {config.asr.model} ({config.asr.device}, {config.asr.compute_type}) ...", file=sys.stderr)
    backend = FasterWhisperBackend(config.asr)
    backend.transcribe(_warmup_audio(), "")  # the first call pays one-off set-up costs: not a file's compute
    models = None
    if args.mode == "livemind":
        from voice_livemind.bench.common import load_models
        from voice_livemind.pipeline.backends import in_role
        from voice_livemind.tts.piper_backend import PiperTTS

        notes, answers = load_models(config, small=True)
        models = (in_role(notes, config.models.inference), in_role(answers, config.models.answer),
                  PiperTTS(config.tts))  # notes, answers, speech; each role with its threads

    records = []
    bar = tqdm(inputs, unit="file", file=sys.stderr, disable=args.quiet)
    for path, reference in bar:
        bar.set_postfix_str(path.name)
        try:
            record = bench_file(path, reference, config, backend, args.mode, models)
        except SkipFile as err:
            skipped.append({"file": path.name, "reason": str(err)})
            continue
        records.append(record)
        bar.write(f"{path.name}: {record['streaming']!r}")
    bar.close()
    for s in skipped:
        print(f"skipped {s['file']}: {s['reason']}", file=sys.stderr)
    if not records:
        print(f"audio error: no file in {args.folder} could be benchmarked", file=sys.stderr)
        return EXIT_AUDIO

    summary = summarise(records, skipped, config)
    summary["mode"] = args.mode
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "per_file.json").write_text(json.dumps(records, indent=1) + "\n")
    text = table(summary, records)
    (out / "table.md").write_text(text)
    long = next((r for r in records if r["file"] == summary["long_file"]), None)
    if long and long["lags"]:
        plot_lag(long, out / "commit_lag_long.png", config.vad.hangover_ms / 1000)
    print(text)
    print(f"wrote {out}/summary.json, per_file.json, table.md" + (", commit_lag_long.png" if long else ""))
    return EXIT_OK


def _warmup_audio():
    import numpy as np

    return np.zeros(16000, dtype=np.float32)
