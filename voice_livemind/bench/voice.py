"""`voice-livemind bench voice`: the whole pipeline, voice in to voice out, in every mode in one run.

Latencies are measured from the true end of the user's speech (the sidecar's `speech_end`, not our own
VAD, which would hide its hangover; files without one fall back to the VAD's estimate and say so):
- v2v (first audio): until the first answer sample is synthesized: the silence the user sits through;
- answer done: until the answer text is complete (the paper's measure), and audio done.
Each run also records the per-stage waterfall: end-of-utterance decision, last recognition pass, first
answer token, first sentence ready, first TTS audio.

Modes (large = models.inference, small = models.answer):
- baseline: no LiveMind; the large model reasons step by step after the end (the paper's baseline);
- direct: no LiveMind, no reasoning; the small model answers at once (the fastest naive pipeline);
- livemind: the large model writes notes while the user speaks and answers from them;
- collaboration: the large model writes the notes, the small model answers.

Note coverage (the modes with notes): of the segments closed before the end of speech, how many a note
had covered by then (`segments_noted / segments_closed`, per item and its median per mode).

`--pacing fast realtime` runs every item in both pacings and compares them item by item: fast pacing skips
only the idle waiting, so it should give the timeline real-time pacing gives.
"""

from __future__ import annotations

import json
from pathlib import Path

from voice_livemind.bench.common import AUDIO_SUFFIXES, fixtures_folder
from voice_livemind.bench.report import (accuracy_text, markdown_table, mean, percentile, pyplot, reduction,
                                         write_json)
from voice_livemind.cli_options import add_config_options, config_from_args

MODES = ("baseline", "direct", "livemind", "collaboration")
NOTE_MODES = ("livemind", "collaboration")  # the modes that write notes while the user speaks
PACINGS = ("fast", "realtime")
DEFAULT_FIXTURES = ("short_question", "multi_sentence", "long_question", "mmlu_choice", "real_example6")
STAGES = (("eou_detected_s", "end of utterance detected"), ("final_transcript_s", "last recognition pass"),
          ("first_token_s", "first answer token"), ("first_sentence_s", "first sentence ready"),
          ("first_audio_s", "first TTS audio"))


def add_arguments(parser) -> None:
    parser.add_argument("folders", nargs="*", help="folders of audio files with NAME.json sidecars (default: five "
                        "question fixtures from audio_fixtures/ plus --mmlu spoken MMLU-Pro questions)")
    parser.add_argument("--mmlu", type=int, default=10, help="spoken MMLU-Pro questions to add to the default set "
                        "(synthesized once into runs/spoken_mmlu; default 10)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--out", default="runs/voice", help="output folder (default runs/voice)")
    parser.add_argument("--pacing", nargs="+", choices=PACINGS, metavar="{fast,realtime}",
                        help="default: the config's audio.pacing; both (--pacing fast realtime) runs every item "
                             "in each pacing and compares them item by item")
    parser.add_argument("--paper", action="store_true", help="the paper's comparison: every mode answers freely "
                        "and speaks all of it (answer.output=paper); default: answer-first for livemind and direct")
    add_config_options(parser)


def find_inputs(folders: list[str], mmlu: int) -> list[Path]:
    if not folders:
        from voice_livemind.bench.spoken import spoken_mmlu

        fixtures = [fixtures_folder(None, "bench voice") / f"{name}.wav" for name in DEFAULT_FIXTURES]
        return fixtures + (spoken_mmlu(Path("runs/spoken_mmlu"), mmlu) if mmlu else [])
    paths = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise ValueError(f"{folder} is not a folder")
        paths += sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    if not paths:
        raise ValueError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in {', '.join(folders)}")
    return paths


def mode_backends(mode: str, shared, large, small):
    """(pipeline mode, Backends) for a benchmark mode: cold models (no cache left from another run) and a
    fresh VAD classifier (it keeps state)."""
    from voice_livemind.bench.common import fresh_backends
    from voice_livemind.pipeline.backends import in_role

    config = shared["config"]
    pipeline_mode = {"baseline": "baseline", "direct": "direct"}.get(mode, "livemind")
    # Every mode answers with the answer role's threads: the modes differ in what they are given only.
    answer_model = in_role(small if mode in ("direct", "collaboration") else large, config.models.answer)
    return pipeline_mode, fresh_backends(config, shared["asr"], in_role(large, config.models.inference),
                                         answer_model, shared["tts"])


def run_one(path: Path, mode: str, shared, large, small, pacing: str) -> dict:
    from voice_livemind import events as ev
    from voice_livemind.audio.sink import NullSink
    from voice_livemind.audio.source import load_audio, read_sidecar
    from voice_livemind.clock import make_clock
    from voice_livemind.llm.stopping import extract_answer
    from voice_livemind.metrics import final_transcripts, turn_latency
    from voice_livemind.pipeline import Pipeline

    config = shared["config"]
    samples = load_audio(path)
    sidecar = read_sidecar(path)
    pipeline_mode, backends = mode_backends(mode, shared, large, small)  # every run starts cold
    pipeline = Pipeline(config, backends, make_clock(pacing), NullSink(), mode=pipeline_mode)
    events = pipeline.run(samples)
    record = {"file": path.name, "mode": mode, "pacing": pacing, "audio_s": round(samples.shape[0] / 16000, 3)}
    done = next((e for e in reversed(events) if isinstance(e, ev.AnswerDone)), None)
    if done is None:
        return {**record, "error": "no answer (no speech or no words recognised)"}
    # The question's answer is the last turn's: an earlier turn answered aloud was a cut-off (the end of
    # the turn was decided in a pause and the answer heard before the user went on).
    cut_offs = len({e.turn for e in events if isinstance(e, ev.TTSAudio) and e.turn < done.turn})
    latency = turn_latency(events, done.turn, sidecar.speech_end if sidecar else None)
    truth = sidecar.answer if sidecar else None
    prediction = extract_answer(done.text)
    transcript = final_transcripts(events)[done.turn]
    # the answer that was given: a turn that resumed had an earlier one, dropped unheard
    started = [e for e in events if isinstance(e, ev.AnswerStarted) and e.turn == done.turn][-1]
    return {**record, **latency, "cut_offs": cut_offs, "v2v_s": latency["first_audio_s"],
            "note_coverage": note_coverage(latency),
            "answer_tokens": done.tokens, "hit_token_cap": done.hit_token_cap, "transcript": transcript, "answer": done.text,
            "answer_first": bool(started.forced_start), "speculative": started.speculative,
            "truth": truth, "prediction": prediction, "correct": (prediction == truth) if truth else None}


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 3) if whole else None


def note_coverage(record: dict) -> float | None:
    """segments_noted / segments_closed at the end of speech; None when no segment had closed by then."""
    return _ratio(record.get("segments_noted", 0), record.get("segments_closed", 0))


def summarise(records: list[dict], modes) -> dict:
    def block(rows):
        v2v = [r["v2v_s"] for r in rows]
        done = [r["answer_done_s"] for r in rows]
        graded = [r for r in rows if r["correct"] is not None]
        return {
            "n": len(rows),
            "median_v2v_s": percentile(v2v, 50), "p90_v2v_s": percentile(v2v, 90), "mean_v2v_s": mean(v2v),
            "median_answer_done_s": percentile(done, 50), "mean_answer_done_s": mean(done),
            "median_audio_done_s": percentile([r["audio_done_s"] for r in rows], 50),
            "accuracy": (sum(r["correct"] for r in graded) / len(graded)) if graded else None,
            "accuracy_text": accuracy_text(sum(r["correct"] for r in graded), len(graded)),
            "answer_first": sum(r.get("answer_first", False) for r in rows),  # turns where it engaged
            "cut_off_items": sum(1 for r in rows if r.get("cut_offs")),  # answered aloud before the user finished
            "speculative_answers": sum(r.get("speculative", False) for r in rows),  # turns answered by one
            "n_multiple_choice": len(graded),
            "answer_cap_hits": sum(r["hit_token_cap"] for r in rows),
            "stages_median_s": {key: percentile([r[key] for r in rows], 50) for key, _ in STAGES},
            # speculative answers (every mode): how often one was started, used, and the lane time wasted
            "speculations": sum(r.get("speculations", 0) for r in rows),
            "speculation_hit_rate": _ratio(sum(r.get("speculation_used", False) for r in rows),
                                           sum(r.get("speculations", 0) for r in rows)),
            "speculation_wasted_s": round(sum(r.get("speculation_wasted_s", 0.0) for r in rows), 3),
            "notes_yielded": sum(r.get("notes_yielded", 0) for r in rows),
            # note coverage at the end of speech, over the turns in which a segment had closed by then
            "median_note_coverage": percentile([note_coverage(r) for r in rows], 50),
            "turns_with_segments": sum(1 for r in rows if r.get("segments_closed")),
            "segments_closed": sum(r.get("segments_closed", 0) for r in rows),
            "segments_noted": sum(r.get("segments_noted", 0) for r in rows),
        }

    ok = [r for r in records if "error" not in r]
    summary = {"modes": {m: block([r for r in ok if r["mode"] == m]) for m in modes},
               "failed": [r for r in records if "error" in r], "reductions": {}}
    for new in ("livemind", "collaboration"):
        for old in ("baseline", "direct"):
            if new in summary["modes"] and old in summary["modes"]:
                a, b = summary["modes"][new], summary["modes"][old]
                summary["reductions"][f"{new}_vs_{old}"] = {
                    "median_answer_done_pct": reduction(a["median_answer_done_s"], b["median_answer_done_s"]),
                    "median_v2v_pct": reduction(a["median_v2v_s"], b["median_v2v_s"]),
                }
    return summary


COMPARED = (("v2v_s", "first audio"), ("answer_done_s", "answer done"), ("eou_detected_s", "end detected"),
            ("first_token_s", "first token"), ("segments_noted", "segments noted"))


def compare_pacings(records: list[dict], modes, reference: str, other: str) -> dict:
    """Per mode, `other` pacing minus `reference` pacing, item by item (the same file in both): the median
    and the largest absolute difference of each measure, and the difference of the medians."""
    ok = [r for r in records if "error" not in r]
    comparison = {}
    for mode in modes:
        first = {r["file"]: r for r in ok if r["mode"] == mode and r.get("pacing") == reference}
        second = {r["file"]: r for r in ok if r["mode"] == mode and r.get("pacing") == other}
        pairs = [(first[f], second[f]) for f in first if f in second]
        block = {"pairs": len(pairs)}
        for key, _ in COMPARED:
            both = [(a.get(key), b.get(key)) for a, b in pairs if a.get(key) is not None and b.get(key) is not None]
            diffs = [b - a for a, b in both]
            medians = [percentile([x[i] for x in both], 50) for i in (0, 1)]
            block[key] = {"median_diff": percentile(diffs, 50),
                          "max_abs_diff": max((abs(d) for d in diffs), default=None),
                          "diff_of_medians": None if None in medians else medians[1] - medians[0]}
        comparison[mode] = block
    return comparison


def summarise_pacings(records: list[dict], modes, pacings) -> dict:
    """The summary of the first pacing (`modes`, `reductions`: what a single-pacing run reports) and, with
    two pacings, each one's summary under `by_pacing` and their item-by-item comparison."""
    pacings = list(dict.fromkeys(pacings))
    summary = summarise([r for r in records if r.get("pacing", pacings[0]) == pacings[0]], modes)
    summary["failed"] = [r for r in records if "error" in r]
    summary["pacings"] = pacings
    if len(pacings) > 1:
        summary["by_pacing"] = {p: summarise([r for r in records if r.get("pacing") == p], modes)["modes"]
                                for p in pacings}
        summary["pacing_comparison"] = {"reference": pacings[0], "other": pacings[1],
                                        "modes": compare_pacings(records, modes, pacings[0], pacings[1])}
    return summary


def coverage_report(records: list[dict]) -> str:
    """Per item of the modes with notes: the segments closed before the end of speech and those noted."""
    rows = [dict(r, note_coverage=note_coverage(r)) for r in records if r["mode"] in NOTE_MODES and "error" not in r]
    if not rows:
        return ""
    table = markdown_table(rows, [("file", "file"), ("mode", "mode"), ("notes", "notes"),
                                  ("segments_noted", "segments noted"), ("segments_closed", "segments closed"),
                                  ("note_coverage", "coverage")])
    return f"\nNotes per item (segments closed before the end of speech, and covered by a note by then):\n\n{table}"


def pacing_report(summary: dict) -> str:
    """Both pacings: per-mode medians in each, and the item-by-item differences."""
    if "pacing_comparison" not in summary:
        return ""
    comparison = summary["pacing_comparison"]
    reference, other = comparison["reference"], comparison["other"]
    rows = [{"mode": m, "pacing": p, **v[m], "eou_detected_s": v[m]["stages_median_s"]["eou_detected_s"]}
            for m in summary["modes"] for p, v in summary["by_pacing"].items()]
    medians = markdown_table(rows, [("mode", "mode"), ("pacing", "pacing"), ("n", "n"),
                                    ("median_v2v_s", "median first audio (s)"),
                                    ("median_answer_done_s", "median answer done (s)"),
                                    ("eou_detected_s", "median end detected (s)"),
                                    ("median_note_coverage", "median note coverage")])
    rows = []
    for mode, block in comparison["modes"].items():
        row = {"mode": mode, "pairs": block["pairs"]}
        for key, _ in COMPARED:
            row[f"{key}_median"], row[f"{key}_max"] = block[key]["median_diff"], block[key]["max_abs_diff"]
        rows.append(row)
    columns = [("mode", "mode"), ("pairs", "pairs")]
    for key, label in COMPARED:
        columns += [(f"{key}_median", f"{label}: median"), (f"{key}_max", "max abs diff")]
    differences = markdown_table(rows, columns)
    return (f"\nPacing: {reference} and {other}, per mode:\n\n{medians}\nItem by item, {other} minus {reference} "
            f"(seconds; segments noted: a count):\n\n{differences}")


def write_report(out: Path, records: list[dict], summary: dict, header: str) -> str:
    rows = [{"mode": m, **v} for m, v in summary["modes"].items()]
    table = markdown_table(rows, [
        ("mode", "mode"), ("n", "n"), ("median_v2v_s", "median first audio (s)"), ("p90_v2v_s", "p90 first audio (s)"),
        ("median_answer_done_s", "median answer done (s)"), ("mean_answer_done_s", "mean answer done (s)"),
        ("median_audio_done_s", "median audio done (s)"), ("accuracy_text", "accuracy (MC) [95% CI]"),
        ("n_multiple_choice", "MC n"), ("answer_first", "answer-first"), ("speculative_answers", "speculative"),
        ("cut_off_items", "cut off"), ("median_note_coverage", "median note coverage")])
    stages = markdown_table([{"mode": m, **v["stages_median_s"]} for m, v in summary["modes"].items()],
                            [("mode", "mode")] + [(k, label) for k, label in STAGES])
    speculation = "".join(
        f"- {m}: {v['speculations']} speculative answers, hit rate {v['speculation_hit_rate']:.0%}, "
        f"{v['speculation_wasted_s']:.1f} s of compute discarded over {v['n']} turns; "
        f"{v['notes_yielded']} note calls yielded (to recognition or to the end of a turn)\n"
        for m, v in summary["modes"].items() if v["speculations"])
    reductions = "".join(
        f"- {name.replace('_vs_', ' vs ')}: answer done {v['median_answer_done_pct']:.1f}% lower, "
        f"first audio {v['median_v2v_pct']:.1f}% lower (medians)\n"
        for name, v in summary["reductions"].items() if v["median_answer_done_pct"] is not None)
    pacings = summary.get("pacings") or [None]
    shown = [r for r in records if r.get("pacing", pacings[0]) == pacings[0]]  # the plots: the first pacing
    text = (f"{header}\n\nSeconds from the true end of speech; answer done: the end of generation (the paper's "
            f"measure), audio done: the end of the spoken answer; answer-first: turns whose answer was forced to "
            f"start with an option letter; speculative: turns answered by an answer started in the pause; cut off: "
            f"items where an answer was heard before the user had finished (the latencies are those of the last "
            f"turn, answered after the true end)"
            + (f" ({pacings[0]} pacing)" if len(pacings) > 1 else "") + f".\n\n{table}\nMedian waterfall (s after "
            f"the end of speech):\n\n{stages}\n{reductions}{speculation}{coverage_report(shown)}"
            f"{pacing_report(summary)}")
    (out / "table.md").write_text(text)

    plt = pyplot()
    modes = list(summary["modes"])
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(modes) + 1.5))
    for i, m in enumerate(modes):
        previous = 0.0
        for (key, label), colour in zip(STAGES, ("#bbb", "#8ac", "#e95", "#c66", "#6a6")):
            value = summary["modes"][m]["stages_median_s"][key]
            if value is None:
                continue
            ax.barh(i, max(0.0, value - previous), left=previous, color=colour, label=label if i == 0 else None)
            previous = max(previous, value)
    ax.set_yticks(range(len(modes)), modes)
    ax.set_xlabel("median seconds after the true end of speech")
    ax.set_title("Waterfall to the first audible answer")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "waterfall.png", dpi=100)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in zip(axes, ("v2v_s", "answer_done_s"), ("first audio", "answer done")):
        for m in modes:
            values = sorted(r[key] for r in shown if r["mode"] == m and "error" not in r and r[key] is not None)
            ax.step(values, [(i + 1) / len(values) for i in range(len(values))], where="post", label=m)
        ax.set_xlabel(f"{title}: seconds after the end of speech")
        ax.set_ylabel("fraction of turns")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "latency_cdf.png", dpi=100)
    plt.close("all")
    return text


def run(args) -> int:
    from tqdm import tqdm

    from voice_livemind.asr.whisper_backend import FasterWhisperBackend
    from voice_livemind.bench.common import load_models
    from voice_livemind.tts.piper_backend import PiperTTS

    if args.paper:  # before the user's --set values, which still win
        args.overrides = ["answer.output=paper", *args.overrides]
    config = config_from_args(args)
    pacings = list(dict.fromkeys(args.pacing or [config.audio.pacing]))
    try:
        inputs = find_inputs(args.folders, args.mmlu)
    except ValueError as err:
        print(f"input error: {err}")
        return 3
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    large, small = load_models(config, small=bool({"direct", "collaboration"} & set(args.modes)))
    shared = {"config": config, "asr": FasterWhisperBackend(config.asr), "tts": PiperTTS(config.tts)}
    records = []
    with open(out / "records.jsonl", "w") as log, tqdm(total=len(inputs) * len(args.modes) * len(pacings),
                                                      desc="bench voice", unit="run") as bar:
        for path in inputs:
            for mode in args.modes:
                for pacing in pacings:  # the pacings of one item one after the other: the same machine state
                    record = run_one(path, mode, shared, large, small, pacing)
                    log.write(json.dumps(record) + "\n")
                    records.append(record)
                    bar.update()
    summary = summarise_pacings(records, args.modes, pacings)
    summary["settings"] = {"files": [p.name for p in inputs], "pacing": pacings[0], "pacings": pacings,
                           "large": config.models.inference.model, "small": config.models.answer.model,
                           "engine": config.models.inference.engine, "layout": config.livemind.layout,
                           "hangover_ms": config.vad.hangover_ms, "output": config.answer.output,
                           "speculative": config.answer.speculative}
    write_json(out / "summary.json", summary)
    header = (f"bench voice: {len(inputs)} spoken questions, pacing {' and '.join(pacings)}, "
              f"modes {', '.join(args.modes)}, output {config.answer.output}, speculative answers "
              f"{'in every mode' if config.answer.speculative else 'off'}")
    print(write_report(out, records, summary, header))
    for failure in summary["failed"]:
        print(f"no answer: {failure['file']} ({failure['mode']}, {failure.get('pacing')}): {failure['error']}")
    print(f"written to {out}/ (summary.json, records.jsonl, table.md, waterfall.png, latency_cdf.png)")
    return 0
