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
"""

from __future__ import annotations

import json
from pathlib import Path

from voice_livemind.bench.report import mean, markdown_table, percentile, pyplot, reduction, write_json
from voice_livemind.cli_options import add_config_options, config_from_args

MODES = ("baseline", "direct", "livemind", "collaboration")
FIXTURES = Path(__file__).resolve().parents[2] / "audio_fixtures"
DEFAULT_FIXTURES = ("short_question", "multi_sentence", "long_question", "mmlu_choice", "real_example6")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
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
    parser.add_argument("--pacing", choices=["fast", "realtime"], help="default: the config's audio.pacing")
    add_config_options(parser)


def find_inputs(folders: list[str], mmlu: int) -> list[Path]:
    if not folders:
        from voice_livemind.bench.spoken import spoken_mmlu

        fixtures = [FIXTURES / f"{name}.wav" for name in DEFAULT_FIXTURES]
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
    """(pipeline mode, Backends) for a benchmark mode; the VAD classifier is fresh: it keeps state."""
    from voice_livemind.pipeline import Backends
    from voice_livemind.vad.endpointer import WebRtcClassifier

    pipeline_mode = {"baseline": "baseline", "direct": "direct"}.get(mode, "livemind")
    answer_model = small if mode in ("direct", "collaboration") else large
    classifier = WebRtcClassifier(shared["config"].vad.aggressiveness, shared["config"].vad.frame_ms)
    return pipeline_mode, Backends(is_speech=classifier, asr=shared["asr"], inference_model=large,
                                   answer_model=answer_model, tts=shared["tts"])


def run_one(path: Path, mode: str, shared, large, small, pacing: str) -> dict:
    from voice_livemind import events as ev
    from voice_livemind.audio.sink import NullSink
    from voice_livemind.audio.source import load_audio, read_sidecar
    from voice_livemind.clock import make_clock
    from voice_livemind.llm.stopping import extract_answer
    from voice_livemind.metrics import turn_latency
    from voice_livemind.pipeline import Pipeline

    config = shared["config"]
    samples = load_audio(path)
    sidecar = read_sidecar(path)
    pipeline_mode, backends = mode_backends(mode, shared, large, small)
    for model in {id(large): large, id(small): small}.values():
        model.forget()  # every run starts cold: no cache left from another mode's run
    pipeline = Pipeline(config, backends, make_clock(pacing), NullSink(), mode=pipeline_mode)
    events = pipeline.run(samples)
    record = {"file": path.name, "mode": mode, "audio_s": round(samples.shape[0] / 16000, 3)}
    done = next((e for e in events if isinstance(e, ev.AnswerDone)), None)
    if done is None:
        return {**record, "error": "no answer (no speech or no words recognised)"}
    latency = turn_latency(events, done.turn, sidecar.speech_end if sidecar else None)
    truth = sidecar.answer if sidecar else None
    prediction = extract_answer(done.text)
    transcript = next(e.stable for e in events if isinstance(e, ev.TranscriptUpdate) and e.final and e.turn == done.turn)
    return {**record, **latency, "v2v_s": latency["first_audio_s"], "answer_tokens": done.tokens,
            "hit_token_cap": done.hit_token_cap, "transcript": transcript, "answer": done.text,
            "truth": truth, "prediction": prediction, "correct": (prediction == truth) if truth else None}


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 3) if whole else None


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
            "n_multiple_choice": len(graded),
            "answer_cap_hits": sum(r["hit_token_cap"] for r in rows),
            "stages_median_s": {key: percentile([r[key] for r in rows], 50) for key, _ in STAGES},
            # speculative answers (livemind): how often one was started, used, and the lane time wasted
            "speculations": sum(r.get("speculations", 0) for r in rows),
            "speculation_hit_rate": _ratio(sum(r.get("speculation_used", False) for r in rows),
                                           sum(r.get("speculations", 0) for r in rows)),
            "speculation_wasted_s": round(sum(r.get("speculation_wasted_s", 0.0) for r in rows), 3),
            "notes_yielded": sum(r.get("notes_yielded", 0) for r in rows),
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


def write_report(out: Path, records: list[dict], summary: dict, header: str) -> str:
    rows = [{"mode": m, **v} for m, v in summary["modes"].items()]
    table = markdown_table(rows, [
        ("mode", "mode"), ("n", "n"), ("median_v2v_s", "median first audio (s)"), ("p90_v2v_s", "p90 first audio (s)"),
        ("median_answer_done_s", "median answer done (s)"), ("mean_answer_done_s", "mean answer done (s)"),
        ("median_audio_done_s", "median audio done (s)"), ("accuracy", "accuracy (MC)"), ("n_multiple_choice", "MC n")])
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
    text = (f"{header}\n\nSeconds from the true end of speech.\n\n{table}\nMedian waterfall (s after the end "
            f"of speech):\n\n{stages}\n{reductions}{speculation}")
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
            values = sorted(r[key] for r in records if r["mode"] == m and "error" not in r)
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
    from voice_livemind.bench.text import load_models
    from voice_livemind.tts.piper_backend import PiperTTS

    config = config_from_args(args)
    pacing = args.pacing or config.audio.pacing
    try:
        inputs = find_inputs(args.folders, args.mmlu)
    except ValueError as err:
        print(f"input error: {err}")
        return 3
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    large, small = load_models(config, ["collaboration"] if {"direct", "collaboration"} & set(args.modes) else [])
    shared = {"config": config, "asr": FasterWhisperBackend(config.asr), "tts": PiperTTS(config.tts)}
    records = []
    with open(out / "records.jsonl", "w") as log, tqdm(total=len(inputs) * len(args.modes), desc="bench voice",
                                                      unit="run") as bar:
        for path in inputs:
            for mode in args.modes:
                record = run_one(path, mode, shared, large, small, pacing)
                log.write(json.dumps(record) + "\n")
                records.append(record)
                bar.update()
    summary = summarise(records, args.modes)
    summary["settings"] = {"files": [p.name for p in inputs], "pacing": pacing, "large": config.models.inference.model,
                           "small": config.models.answer.model, "layout": config.livemind.layout,
                           "hangover_ms": config.vad.hangover_ms}
    write_json(out / "summary.json", summary)
    header = f"bench voice: {len(inputs)} spoken questions, pacing {pacing}, modes {', '.join(args.modes)}"
    print(write_report(out, records, summary, header))
    for failure in summary["failed"]:
        print(f"no answer: {failure['file']} ({failure['mode']}): {failure['error']}")
    print(f"written to {out}/ (summary.json, records.jsonl, table.md, waterfall.png, latency_cdf.png)")
    return 0
