"""`voice-livemind bench text`: LiveMind on streamed text, measured the paper's way, beside the baseline.

Each MMLU-Pro question arrives as text at a simulated input rate (words or characters per minute). Model
calls are real and their measured duration advances the simulated clock (FastForwardClock), so a call
that is still running when the input ends delays the answer, as in the paper. Latency is the time from
the last input to the end of the answer.

Modes (large = models.inference, small = models.answer in the config):
- baseline: the large model answers with chain of thought from the complete input, no notes;
- direct: the large model answers from the complete input with LiveMind's output stage but no notes, so
  livemind against direct isolates what the notes do;
- livemind: the large model writes notes during the input and answers from them;
- collaboration: the large model writes the notes, the small model answers;
- small_baseline: the small model with chain of thought.
The notes phase depends only on the inference model and the input, so it runs once per question and is
shared by livemind and collaboration. Every prompt comes from the pipeline's output stage
(`pipeline.answer.answer_request`): answer-first by default (the answer forced to start "The answer is ("
with a constrained letter, baseline reasoning freely), or with `--paper` the paper's comparison (every
mode answers freely with the same token cap; livemind uses the authors' output prompt and reasons step by
step when it wrote no note).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from voice_livemind.bench.common import Question, load_models, load_questions
from voice_livemind.bench.report import (accuracy_text, markdown_table, mean, percentile, pyplot, reduction,
                                         wilson_interval, write_json)
from voice_livemind.cli_options import add_config_options, config_from_args
from voice_livemind.livemind import prompts

MODES = ("baseline", "direct", "livemind", "collaboration", "small_baseline")
LENGTH_BUCKETS = ((0, 25, "<25 words"), (25, 50, "25-49 words"), (50, 100, "50-99 words"), (100, 10**9, "100+ words"))


# -- simulated input ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TextStream:
    """Text that becomes visible over time; `end` is when the last of it has arrived."""

    arrivals: tuple[tuple[float, str], ...]  # (time, text visible from that time on), increasing

    @property
    def end(self) -> float:
        return self.arrivals[-1][0]

    @property
    def full_text(self) -> str:
        return self.arrivals[-1][1]

    def visible(self, t: float) -> str:
        shown = ""
        for at, text in self.arrivals:
            if at > t + 1e-9:
                break
            shown = text
        return shown

    def next_arrival(self, t: float) -> float | None:
        return next((at for at, _ in self.arrivals if at > t + 1e-9), None)


def make_stream(question: Question, rate: float, unit: str, stream_options: bool) -> TextStream:
    """Reveal the question (and, if `stream_options`, the options) unit by unit at `rate` per minute.

    By default the options arrive all at once with the question's last unit (the paper's second version).
    """
    streamed = question.question + ("\n" + question.options_text if stream_options else "")
    step = 60.0 / rate
    if unit == "wpm":
        cuts = [i for i, ch in enumerate(streamed) if ch.isspace() and i and not streamed[i - 1].isspace()]
        prefixes = [streamed[:i] for i in cuts] + [streamed]
    else:
        prefixes = [streamed[: i + 1] for i in range(len(streamed))]
    arrivals = [(step * (i + 1), text) for i, text in enumerate(prefixes)]
    if not stream_options:
        at, text = arrivals[-1]
        arrivals[-1] = (at, text + "\n" + question.options_text)
    return TextStream(tuple(arrivals))


# -- one question, one mode -------------------------------------------------------------------------
@dataclass
class NotesPhase:
    """What the inference model did while the input arrived."""

    loop: object  # the LiveMindLoop, holding memory and stats
    overrun_s: float  # how long the last call ran past the end of input
    compute_s: float  # time spent in inference calls
    actions: Counter = field(default_factory=Counter)


def warm(model, start) -> None:
    """At the start of the input, put the fixed start of the mode's prompts (its system prompt) into the
    model's cache, as the pipeline does when speech starts, in every mode alike: the time it takes is
    spent while the input arrives (on the clock, before the notes)."""
    model.prefill(start)


def run_notes_phase(stream: TextStream, loop, clock) -> NotesPhase:
    compute = 0.0
    actions: Counter = Counter()
    while clock.now() < stream.end:
        loop.observe(stream.visible(clock.now()))
        if loop.pending():
            started = clock.now()
            result = loop.step()
            compute += clock.now() - started
            actions[result.action.name] += 1
        else:
            clock.sleep_until(stream.next_arrival(clock.now()) or stream.end)
    return NotesPhase(loop, max(0.0, clock.now() - stream.end), compute, actions)


def answer(model, request, config, clock, start: float) -> dict:
    """Generate the answer the output stage asks for (`request`); times are relative to `start` (the end of
    input)."""
    from voice_livemind.llm.stopping import extract_answer

    first_token: list[float] = []
    began = clock.now()
    generation = model.generate(
        request.messages, config.answer.max_new_tokens, prefix=request.prefix, first_word_choices=request.choices,
        banned_first_words=() if request.choices else prompts.NOT_AN_ANSWER_START,
        on_text=lambda _: first_token or first_token.append(clock.now()),
        stop_when_answered=config.answer.stop_when_answered,
        repetition_penalty=config.answer.repetition_penalty,
    )
    return {
        "latency_s": clock.now() - start,
        "first_token_s": (first_token[0] - start) if first_token else None,
        "answer_compute_s": clock.now() - began,
        "answer_tokens": generation.tokens,
        "answer_stop": generation.stop_reason,
        "answer_first": bool(request.prefix),
        "answer_reused_tokens": generation.reused_tokens,  # prompt tokens read from the kept cache  # the forced answer-first start engaged (lettered options found)
        "prediction": extract_answer(generation.text),
        "answer_text": generation.text,
    }


# -- the benchmark ----------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="JSON list of MMLU-Pro style questions (default: the shipped validation split)")
    parser.add_argument("--limit", type=int, help="use the first N questions, spread over categories")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--out", default="runs/text", help="output folder (default runs/text)")
    parser.add_argument("--rate", type=float, default=None, help="input rate (default 150 wpm, or 240 cpm)")
    parser.add_argument("--unit", choices=["wpm", "cpm"], default="wpm", help="words (speech) or characters (typing) per minute")
    parser.add_argument("--stream-options", action="store_true", help="stream the options as text too")
    parser.add_argument("--layouts", nargs="+", choices=prompts.LAYOUTS, metavar="LAYOUT",
                        help="the paper's layout ablation: the note modes once per layout (one of "
                             f"{', '.join(prompts.LAYOUTS)}), reported as e.g. livemind[u-pli]; the modes "
                             "without notes run once")
    parser.add_argument("--paper", action="store_true", help="the paper's comparison: every mode answers freely "
                        "(answer.output=paper); default: answer-first output for livemind and direct")
    add_config_options(parser)


def spread(questions: list[Question], limit: int | None) -> list[Question]:
    """The first `limit` questions taken round-robin over categories, so a small run covers them all."""
    if limit is None or limit >= len(questions):
        return questions
    by_category: dict[str, list[Question]] = {}
    for q in questions:
        by_category.setdefault(q.category, []).append(q)
    picked: list[Question] = []
    while len(picked) < limit:
        for group in by_category.values():
            if group and len(picked) < limit:
                picked.append(group.pop(0))
    return picked


def run_question(question: Question, modes, config, large, small, rate, unit, stream_options,
                 new_clock=None) -> list[dict]:
    """Every mode on one question; each mode runs on a fresh clock (fast-forward: real compute time)."""
    from voice_livemind.clock import FastForwardClock
    from voice_livemind.livemind.loop import LiveMindLoop
    from voice_livemind.modes import Mode
    from voice_livemind.pipeline.answer import answer_request, output_system

    new_clock = new_clock or FastForwardClock

    stream = make_stream(question, rate, unit, stream_options)
    common = {"qid": question.qid, "category": question.category, "words": question.words,
              "input_s": stream.end, "truth": question.answer}
    records = []
    notes: tuple[NotesPhase, float, object] | None = None
    no_notes = {"notes_compute_s": 0.0, "overrun_s": 0.0, "actions": {}}
    # Every mode starts with cold models: no key/value cache left over from another mode's work. The two
    # LiveMind modes share one notes phase, so each of their answers starts from the cache it left.
    for mode in modes:
        clock = new_clock()
        if mode in ("baseline", "small_baseline", "direct"):
            model = small if mode == "small_baseline" else large
            model.forget()
            warm(model, [{"role": "system", "content": config.livemind.prompts.answer_system if mode == "direct"
                          else config.livemind.prompts.baseline_system}])
            clock.sleep_until(stream.end)  # nothing else happens until the input is complete
            request = answer_request(config, Mode.DIRECT if mode == "direct" else Mode.BASELINE, stream.full_text,
                                     None, [])
            result, extra = answer(model, request, config, clock, stream.end), no_notes
        else:
            if notes is None:  # livemind and collaboration share the large model's notes
                large.forget()
                loop = LiveMindLoop(large, config.livemind, config.answer.repetition_penalty,
                                    answer_system=output_system(config))
                warm(large, loop.prompt_start())
                phase = run_notes_phase(stream, loop, clock)
                notes = (phase, clock.now(), large.snapshot())
            phase, phase_end, after_notes = notes
            clock.sleep_until(phase_end)
            model = large if mode == "livemind" else small
            if model is large:
                model.restore(after_notes)
            else:
                model.forget()
            request = answer_request(config, Mode.LIVEMIND, stream.full_text, phase.loop, [])
            result = answer(model, request, config, clock, stream.end)
            extra = {"notes_compute_s": phase.compute_s, "overrun_s": phase.overrun_s,
                     "actions": dict(phase.actions), **phase.loop.stats.to_json()}
        total = extra["notes_compute_s"] + result["answer_compute_s"]
        records.append({**common, "mode": mode, **result, **extra, "total_generation_s": total,
                        "correct": result["prediction"] == question.answer})
    return records


def summarise(records: list[dict], modes) -> dict:
    def block(rows):
        latencies = [r["latency_s"] for r in rows]
        calls = sum(r.get("calls", 0) for r in rows)
        return {
            "n": len(rows),
            "mean_latency_s": mean(latencies),
            "median_latency_s": percentile(latencies, 50),
            "p90_latency_s": percentile(latencies, 90),
            "mean_first_token_s": mean([r["first_token_s"] for r in rows]),
            "accuracy": (sum(r["correct"] for r in rows) / len(rows)) if rows else None,
            "accuracy_ci95": list(wilson_interval(sum(r["correct"] for r in rows), len(rows)) or ()) or None,
            "accuracy_text": accuracy_text(sum(r["correct"] for r in rows), len(rows)),
            "answer_first": sum(r.get("answer_first", False) for r in rows),  # questions where it engaged
            "answered": sum(r["prediction"] is not None for r in rows),
            "mean_total_generation_s": mean([r["total_generation_s"] for r in rows]),
            "mean_overrun_s": mean([r["overrun_s"] for r in rows]),
            "answer_cap_hits": sum(r["answer_stop"] == "cap" for r in rows),
            "answer_loops_stopped": sum(r["answer_stop"] == "loop" for r in rows),
            "inference_calls": calls,
            "parse_rate": (sum(r.get("parsed", 0) for r in rows) / calls) if calls else None,
            "note_cap_hits": sum(r.get("cap_hits", 0) for r in rows),
            "note_loops_stopped": sum(r.get("loops_stopped", 0) for r in rows),
            "actions": dict(sum((Counter(r["actions"]) for r in rows), Counter())),
        }

    summary = {"modes": {}, "by_category": {}, "by_length": {}, "reductions": {}}
    for mode in modes:
        rows = [r for r in records if r["mode"] == mode]
        summary["modes"][mode] = block(rows)
        summary["by_category"][mode] = {c: block([r for r in rows if r["category"] == c])
                                        for c in sorted({r["category"] for r in rows})}
        summary["by_length"][mode] = {label: block([r for r in rows if lo <= r["words"] < hi])
                                      for lo, hi, label in LENGTH_BUCKETS if any(lo <= r["words"] < hi for r in rows)}
    pairs = [("livemind", "baseline"), ("livemind", "direct"), ("collaboration", "small_baseline"),
             ("collaboration", "baseline")]
    pairs = [(name, old) for kind, old in pairs for name in summary["modes"] if name.split("[")[0] == kind]
    for new, old in pairs:
        if new in summary["modes"] and old in summary["modes"]:
            a, b = summary["modes"][new], summary["modes"][old]
            summary["reductions"][f"{new}_vs_{old}"] = {
                "mean_latency_pct": reduction(a["mean_latency_s"], b["mean_latency_s"]),
                "median_latency_pct": reduction(a["median_latency_s"], b["median_latency_s"]),
            }
    return summary


def write_report(out: Path, records: list[dict], summary: dict, header: str) -> str:
    rows = [{"mode": m, **v} for m, v in summary["modes"].items()]
    table = markdown_table(rows, [("mode", "mode"), ("n", "n"), ("mean_latency_s", "mean latency (s)"),
                                  ("median_latency_s", "median latency (s)"), ("mean_first_token_s", "first token (s)"),
                                  ("accuracy_text", "accuracy [95% CI]"), ("answer_first", "answer-first"),
                                  ("mean_total_generation_s", "generation (s)"),
                                  ("parse_rate", "note parse rate"), ("answer_cap_hits", "answer cap hits")])
    reductions = "".join(f"- {name.replace('_', ' ')}: mean {v['mean_latency_pct']:.1f}%, median {v['median_latency_pct']:.1f}%\n"
                         for name, v in summary["reductions"].items() if v["mean_latency_pct"] is not None)
    n = max((v["n"] for v in summary["modes"].values()), default=0)
    text = (f"{header}\n\n{table}\n\"answer-first\": on how many questions the answer was forced to start with "
            f"the option letter. With {n} questions the 95% accuracy intervals overlap unless they say otherwise: "
            f"no accuracy difference between modes is shown by this run.\n\nLatency reduction:\n{reductions}")
    (out / "table.md").write_text(text)

    plt = pyplot()
    modes = list(summary["modes"])
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.boxplot([[r["latency_s"] for r in records if r["mode"] == m] for m in modes], tick_labels=modes)
    ax.set_ylabel("latency after the last input (s)")
    ax.set_title("Latency per mode")
    fig.tight_layout()
    fig.savefig(out / "latency_per_mode.png", dpi=100)
    fig, ax = plt.subplots(figsize=(7, 4))
    for m in modes:
        rows = [r for r in records if r["mode"] == m]
        ax.scatter([r["words"] for r in rows], [r["latency_s"] for r in rows], label=m, s=14)
    ax.set_xlabel("question length (words)")
    ax.set_ylabel("latency (s)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "latency_vs_length.png", dpi=100)
    plt.close("all")
    return text


def layout_runs(args, config) -> list[tuple[object, list[str], list[str]]]:
    """(config, modes, reported names) to run per question: one run, or with --layouts the modes without
    notes once and the note modes once per layout, named "livemind[u-pli]"."""
    if not args.layouts:
        return [(config, list(args.modes), list(args.modes))]
    plain = [m for m in args.modes if m not in ("livemind", "collaboration")]
    noted = [m for m in args.modes if m in ("livemind", "collaboration")]
    runs = [(config, plain, plain)] if plain else []
    for layout in dict.fromkeys(args.layouts):
        layout_config = config_from_args(argparse.Namespace(config=args.config,
                                                            overrides=[*args.overrides, f"livemind.layout={layout}"]))
        runs.append((layout_config, noted, [f"{m}[{layout}]" for m in noted]))
    return runs


def run(args) -> int:
    from tqdm import tqdm


    if args.paper:  # before the user's --set values, which still win
        args.overrides = ["answer.output=paper", *args.overrides]
    config = config_from_args(args)
    try:
        questions = spread(load_questions(args.data), args.limit)
    except ValueError as err:
        print(f"data error: {err}")
        return 2
    rate = args.rate or (150.0 if args.unit == "wpm" else 240.0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    large, small = load_models(config, small=bool({"collaboration", "small_baseline"} & set(args.modes)))
    runs = layout_runs(args, config)
    modes = [name for _, _, names in runs for name in names]
    records = []
    with open(out / "records.jsonl", "w") as log:
        for question in tqdm(questions, desc="bench text", unit="question"):
            for run_config, run_modes, names in runs:
                for record in run_question(question, run_modes, run_config, large, small, rate, args.unit,
                                           args.stream_options):
                    record["mode"] = names[run_modes.index(record["mode"])]
                    log.write(json.dumps(record) + "\n")
                    records.append(record)
    summary = summarise(records, modes)
    summary["settings"] = {"rate": rate, "unit": args.unit, "stream_options": args.stream_options,
                           "layouts": args.layouts,
                           "questions": len(questions), "large": config.models.inference.model,
                           "small": config.models.answer.model, "layout": config.livemind.layout,
                           "output": config.answer.output,
                           "actions": config.livemind.actions, "granularity": config.livemind.granularity}
    write_json(out / "summary.json", summary)
    header = (f"bench text: {len(questions)} questions, input at {rate:g} {args.unit}, "
              f"options {'streamed' if args.stream_options else 'at once with the last input'}, "
              f"layout {config.livemind.layout}, output "
              f"{'the paper (every mode answers freely)' if config.answer.output == 'paper' else 'answer-first (livemind, direct; baseline reasons)'}")
    print(write_report(out, records, summary, header))
    print(f"written to {out}/ (summary.json, records.jsonl, table.md, latency_per_mode.png, latency_vs_length.png)")
    return 0
