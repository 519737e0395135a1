"""The report of `bench asr`: the summary over all files, the goals, the table and the lag plot."""

from __future__ import annotations

from voice_livemind.bench import asr_metrics as m
from voice_livemind.bench.report import rounded


# -- all files ----------------------------------------------------------------------------------------


def summarise(records: list[dict], skipped: list[dict], config) -> dict:
    lags = [lag for r in records for lag in r["lags"]]
    with_text = [r for r in records if r["streaming_wer"] is not None]
    empty = [r for r in records if r["words_on_silence"] is not None]
    timed = [r for r in records if r["speech_end"] is not None]
    cutoffs = [c for r in records for c in r["false_cutoffs"]]
    # the silence that ends a turn whatever else is known: the hangover, or with an end-of-turn model the
    # maximum silence (a turn that sounds finished ends sooner)
    end_model = getattr(config.vad, "end_model", "none") != "none"
    hangover_s = (config.vad.max_silence_ms if end_model else config.vad.hangover_ms) / 1000
    audio_s = sum(r["duration_s"] for r in records)
    streaming_wer = m.corpus_wer([(r["reference"], r["streaming"]) for r in with_text])
    offline_wer = m.corpus_wer([(r["reference"], r["offline"]) for r in with_text])
    unstable = sum(r["unstable_words"] for r in records)
    long = max(with_text, key=lambda r: r["duration_s"], default=None)
    summary = {
        "files": len(records),
        "skipped": skipped,
        "audio_s": round(audio_s, 3),
        "streaming_wer": rounded(streaming_wer, 4),
        "offline_wer": rounded(offline_wer, 4),
        "wer_ratio": rounded(streaming_wer / offline_wer, 3) if streaming_wer is not None and offline_wer else None,
        "committed_words": len(lags),
        "committed_revisions": sum(r["committed_revisions"] for r in records),
        "unstable_change_rate": rounded(sum(r["unstable_changed"] for r in records) / unstable, 4) if unstable else None,
        "commit_lag_median_s": rounded(m.median([x[1] for x in lags])),
        "commit_lag_p90_s": rounded(m.percentile([x[1] for x in lags], 90)),
        "commit_lag_no_compute_median_s": rounded(m.median([x[2] for x in lags])),
        "commit_lag_no_compute_p90_s": rounded(m.percentile([x[2] for x in lags], 90)),
        "rtf": rounded(sum(r["compute_s"] for r in records) / audio_s) if audio_s else None,
        "offline_rtf": rounded(sum(r["offline_compute_s"] for r in records) / audio_s) if audio_s else None,
        "eou_delay_median_s": rounded(m.median([r["eou_delay_s"] for r in timed if r["eou_delay_s"] is not None])),
        "eou_delay_p90_s": rounded(m.percentile([r["eou_delay_s"] for r in timed if r["eou_delay_s"] is not None], 90)),
        "eou_delay_no_compute_median_s": rounded(m.median([r["eou_delay_audio_s"] for r in timed
                                                          if r["eou_delay_audio_s"] is not None])),
        "eou_delay_no_compute_p90_s": rounded(m.percentile([r["eou_delay_audio_s"] for r in timed
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
            "note_coverage_median": rounded(m.median([r["segments_noted"] / r["segments_closed"]
                                                     for r in noting if r["segments_closed"]])),
            "note_coverage_pooled": rounded(noted / closed) if closed else None}


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
    return {"long_lag_slope_s_per_min": rounded(None if trend is None else 60 * trend),
            "long_lag_first_third_median_s": rounded(m.median(parts[0])),
            "long_lag_middle_third_median_s": rounded(m.median(parts[1])),
            "long_lag_last_third_median_s": rounded(m.median(parts[2]))}


def goals(s: dict, hangover_s: float) -> dict:
    def goal(value, target, ok):
        return {"value": value, "target": target, "met": None if value is None else bool(ok)}

    ratio = s["wer_ratio"]
    growth = (s.get("long_lag_last_third_median_s") or 0) - (s.get("long_lag_middle_third_median_s") or 0)
    return {
        "streaming_wer_vs_offline": goal(ratio, "<= 1.2 x offline WER",
                                         s["streaming_wer"] is not None and s["streaming_wer"] <= 1.2 * (s["offline_wer"] or 0)),
        "commit_lag_median": goal(s["commit_lag_median_s"], "<= 1.5 s", (s["commit_lag_median_s"] or 0) <= 1.5),
        "lag_does_not_grow": goal(rounded(growth) if s.get("long_lag_middle_third_median_s") is not None else None,
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
