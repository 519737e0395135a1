"""`voice-livemind bench llm`: the chat-model engines side by side (llama.cpp and transformers, and a serving
engine through engine openai at --base-url), same model, same prompts, at 1 and 2 threads (a serving
engine's threads are its own: its rows repeat for each count). Its cold calls start with a unique line (its
prefix cache cannot be dropped from here); its kept-prefix calls follow a `prefill` of the notes (sent for
one token, so the engine caches them).

The prompt is the answer prompt of MMLU-Pro questions as LiveMind builds it (multi-turn layout: the
question's sentences as user turns, a note after each, then the last part and "(The user has finished
speaking.)"). The notes are placeholders, the same for every engine (the first words of their sentence): their
wording does not change the timing, only their length does. Per engine and thread count, medians over the
questions:
- prefill tok/s: the whole answer prompt from a cold cache (`prefill`, no token generated);
- decode tok/s: tokens per second of a reasoning reply (the baseline prompt, `--decode-tokens` tokens
  at most) whose prompt is already in the cache (one prompt token is evaluated again, then the reply);
- time to first token of the answer prompt, as the pipeline asks for it (`answer.choice_prefix` and a
  constrained letter): cold, and with the kept prefix (the notes conversation prefilled first, as the
  LiveMind loop leaves it when the user stops: only the last user turn is evaluated);
- time to the first sentence ready for speech (the answer prompt with the kept prefix, answered freely as an
  open question: the text until the sentence chunker hands its first piece to speech synthesis);
and the ratios to transformers at the same thread count.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

from voice_livemind.bench.report import markdown_table, write_json
from voice_livemind.cli_options import add_config_options, config_from_args
from voice_livemind.livemind import prompts
from voice_livemind.livemind.memory import Entry

# llama_cpp: with the config's models.answer.requantize; llama_cpp:KIND with that one (none: the file as it is)
ENGINES = ("llama_cpp", "llama_cpp:none", "llama_cpp:q8_0", "llama_cpp:q4_0", "transformers", "openai")
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "mmlu_pro_validation.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="JSON list of MMLU-Pro style questions (default: ../shared/data/"
                                       "mmlu_pro_validation.json if present, else the shipped validation split)")
    parser.add_argument("--limit", type=int, default=3, help="questions (default 3)")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=["llama_cpp", "transformers"],
                        help="llama_cpp:none|q8_0|q4_0: the file as it is or re-quantised (models.<role>.requantize; "
                             "llama_cpp alone: as the config says); "
                             "openai: a serving engine at --base-url (the same model served there; its chat "
                             "template read from models.answer.model unless models.answer.chat_template names it)")
    parser.add_argument("--base-url", default="", help="engine openai: the server, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2], help="thread counts (default 1 2)")
    parser.add_argument("--decode-tokens", type=int, default=48, help="reply length of the decode measurement")
    parser.add_argument("--out", default="runs/llm", help="output folder (default runs/llm)")
    add_config_options(parser, example="models.answer.model=/path/to/model.gguf")


# -- prompts -----------------------------------------------------------------------------------------
def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.?!])\s+", text.strip()) if s]


@dataclasses.dataclass(frozen=True)
class Prompts:
    qid: str
    answer: list  # the answer prompt (multi-turn)
    notes: list  # its fixed start: the notes conversation the loop leaves in the cache
    prefix: str
    choices: tuple[str, ...]
    baseline: list  # the reasoning prompt, for decoding


def build_prompts(question, config) -> Prompts:
    parts = sentences(question.question) + [f"Options:\n{question.options_text}"]
    entries = [Entry((part,), "inference", "Noted: " + " ".join(part.split()[:8])) for part in parts[:-1]]
    system = config.livemind.prompts
    answer = prompts.answer_messages("multi_turn", system.answer_system, entries, parts,
                                     inference_system=system.inference_system)
    full = " ".join(parts)
    prefix, choices = prompts.answer_start(full, config.answer.choice_prefix)
    return Prompts(question.qid, answer, answer[:-1], prefix, choices,
                   prompts.baseline_messages(system.baseline_system, full))


def prompt_tokens(model, messages) -> int:
    """Tokens of `messages` without the generation prompt (what `prefill` evaluates)."""
    if hasattr(model, "tokenizer"):  # transformers
        return len(model.tokenizer(model.tokenizer.apply_chat_template(messages, tokenize=False),
                                   add_special_tokens=False)["input_ids"])
    return len(model.tokenize(model.render(messages, add_generation_prompt=False)))


# -- measurements ------------------------------------------------------------------------------------
def timed(call):
    began = time.perf_counter()
    result = call()
    return time.perf_counter() - began, result


def cold(messages: list, engine: str) -> list:
    """`messages` as a cold cache sees them: a serving engine's prefix cache is not ours to drop (forget is a
    no-op there), so its prompt starts with a line no earlier prompt had."""
    if engine != "openai":
        return messages
    first = dict(messages[0], content=f"(run {uuid.uuid4().hex[:8]})\n{messages[0]['content']}")
    return [first, *messages[1:]]


def measure(model, p: Prompts, config, decode_tokens: int, engine: str = "") -> dict:
    answer_kwargs = {"prefix": p.prefix, "first_word_choices": p.choices,
                     "banned_first_words": () if p.choices else prompts.NOT_AN_ANSWER_START}
    model.forget()
    prefill_s, _ = timed(lambda: model.prefill(cold(p.answer, engine)))  # openai: and one token
    n_prompt = prompt_tokens(model, p.answer)

    model.forget()
    ttft_cold_s, cold_reply = timed(lambda: model.generate(cold(p.answer, engine), 1, **answer_kwargs))

    model.forget()
    model.prefill(p.notes)
    ttft_kept_s, kept = timed(lambda: model.generate(p.answer, 1, **answer_kwargs))

    first_sentence_s = time_to_first_sentence(model, p, config)

    model.forget()
    model.generate(p.baseline, 1)  # the prompt into the cache: the next call decodes
    decode_s, reply = timed(lambda: model.generate(p.baseline, decode_tokens,
                                                   repetition_penalty=config.answer.repetition_penalty))
    return {"qid": p.qid, "prompt_tokens": n_prompt, "prefill_s": prefill_s, "prefill_tps": n_prompt / prefill_s,
            "ttft_cold_s": ttft_cold_s, "ttft_kept_s": ttft_kept_s, "kept_reused_tokens": kept.reused_tokens,
            "first_sentence_s": first_sentence_s,
            "answer_prompt_tokens": cold_reply.prompt_tokens, "first_token": kept.text[len(p.prefix):],
            "decode_tokens": reply.tokens, "decode_s": decode_s,
            "decode_tps": reply.tokens / decode_s if reply.tokens else None, "decode_stop": reply.stop_reason}


def time_to_first_sentence(model, p: Prompts, config, max_tokens: int = 64) -> float | None:
    """Seconds from the answer's start (the notes already in the cache) to its first piece of speech, as the
    pipeline chunks it; None if no piece came within `max_tokens`."""
    import threading

    from voice_livemind.tts.chunker import SentenceChunker

    chunker, stop, first = SentenceChunker(config.tts.first_chunk_words), threading.Event(), []

    def on_text(delta: str) -> None:
        if not first and chunker.push(delta):
            first.append(time.perf_counter() - began)
            stop.set()

    model.forget()
    model.prefill(p.notes)
    began = time.perf_counter()
    model.generate(p.answer, max_tokens, banned_first_words=prompts.NOT_AN_ANSWER_START, on_text=on_text,
                   repetition_penalty=config.answer.repetition_penalty, stop=stop)
    return first[0] if first else None


def median(rows: list[dict], key: str):
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def summarise(records: list[dict]) -> list[dict]:
    rows = []
    for engine in dict.fromkeys(r["engine"] for r in records):
        for threads in dict.fromkeys(r["threads"] for r in records if r["engine"] == engine):
            group = [r for r in records if r["engine"] == engine and r["threads"] == threads]
            rows.append({"engine": engine, "threads": threads, "n": len(group),
                         **{k: median(group, k) for k in ("prompt_tokens", "prefill_tps", "decode_tps", "ttft_cold_s",
                                                          "ttft_kept_s", "first_sentence_s", "kept_reused_tokens",
                                                          "load_s")}})
    for row in rows:
        base = next((r for r in rows if r["engine"] == "transformers" and r["threads"] == row["threads"]), None)
        ratio = lambda a, b: (a / b) if a and b else None  # noqa: E731
        row["prefill_x"] = ratio(row["prefill_tps"], base and base["prefill_tps"])
        row["decode_x"] = ratio(row["decode_tps"], base and base["decode_tps"])
        row["ttft_cold_x"] = ratio(base and base["ttft_cold_s"], row["ttft_cold_s"])  # > 1: sooner than transformers
        row["ttft_kept_x"] = ratio(base and base["ttft_kept_s"], row["ttft_kept_s"])
        row["first_sentence_x"] = ratio(base and base["first_sentence_s"], row["first_sentence_s"])
    return rows


COLUMNS = [("engine", "engine"), ("threads", "threads"), ("prefill_tps", "prefill tok/s"),
           ("decode_tps", "decode tok/s"), ("ttft_cold_s", "TTFT cold (s)"), ("ttft_kept_s", "TTFT kept prefix (s)"),
           ("first_sentence_s", "first sentence (s)"), ("kept_reused_tokens", "kept tokens"), ("prompt_tokens", "prompt tokens"),
           ("prefill_x", "prefill x"), ("decode_x", "decode x"), ("ttft_cold_x", "TTFT cold x"),
           ("ttft_kept_x", "TTFT kept x"), ("first_sentence_x", "first sentence x")]


def run(args) -> int:
    from voice_livemind.bench.common import load_questions
    from voice_livemind.llm import load_chat_model

    config = config_from_args(args)
    data = args.data or (SHARED_DATA if SHARED_DATA.exists() else None)
    questions = load_questions(data)[: args.limit]
    all_prompts = [build_prompts(q, config) for q in questions]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for engine in args.engines:
        name, _, kind = engine.partition(":")
        requantize = config.models.answer.requantize if not kind else "" if kind == "none" else kind
        llm = dataclasses.replace(config.models.answer, engine=name, threads=max(args.threads), requantize=requantize)
        if name == "llama_cpp":
            engine = f"llama_cpp:{requantize or 'none'}"  # the row says which file ran
        if engine == "openai":
            if not (args.base_url or llm.base_url):
                raise SystemExit("bench llm: engine openai needs --base-url (or models.answer.base_url)")
            llm = dataclasses.replace(llm, base_url=args.base_url or llm.base_url,
                                      chat_template=llm.chat_template or llm.model)
        began = time.perf_counter()
        model = load_chat_model(llm)
        load_s = time.perf_counter() - began
        for threads in (args.threads if engine != "openai" else args.threads[-1:]):  # the engine's threads are its own
            model.set_threads(threads)
            model.forget()
            model.generate(all_prompts[0].answer, 4)  # warm-up: first-call allocations are not measured
            for p in all_prompts:
                record = {"engine": engine, "threads": threads, "load_s": load_s,
                          **measure(model, p, config, args.decode_tokens, engine)}
                records.append(record)
                print(f"{engine:12s} {threads}t {p.qid:>6s}: prefill {record['prefill_tps']:7.0f} tok/s, decode "
                      f"{record['decode_tps'] or 0:6.1f} tok/s, TTFT cold {record['ttft_cold_s']:.3f} s, kept "
                      f"{record['ttft_kept_s']:.3f} s ({record['kept_reused_tokens']}/{record['answer_prompt_tokens']} "
                      f"tokens kept), first sentence {record['first_sentence_s'] or 0:.3f} s", file=sys.stderr)
        del model
    rows = summarise(records)
    header = (f"bench llm: {config.models.answer.model}, {len(all_prompts)} MMLU-Pro answer prompts ({data or 'shipped split'}), "
              f"medians; x = ratio to transformers at the same thread count (> 1: llama.cpp faster)")
    table = markdown_table(rows, COLUMNS)
    (out / "table.md").write_text(f"{header}\n\n{table}")
    write_json(out / "summary.json", {"model": config.models.answer.model, "questions": [p.qid for p in all_prompts],
                                      "decode_tokens": args.decode_tokens, "rows": rows})
    write_json(out / "records.json", records)
    print(f"{header}\n\n{table}")
    return 0
