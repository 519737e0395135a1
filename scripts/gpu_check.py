"""Check the transformers engine on a GPU (or the CPU) without downloading anything.

A small Llama-shaped model with random weights and a byte-level BPE tokenizer trained on a few sentences
(with a ChatML chat template) are built here and saved to a temporary folder; the engine
(voice_livemind.llm.transformers_backend.TransformersChatModel) loads that folder as it would a real model
and every protocol feature the pipeline's stages use is exercised on the chosen device:

  forced reply prefix, constrained first word, banned first words, stop flag (per token), stoppable
  prefill (stopped between chunks, resumed from what it did), kept-prefix reuse (prefill + generate, and a
  conversation that grows), plus an equivalence check: greedy token ids on the CPU and on the device, same
  seed, same weights, float32.

Run: bash scripts/gpu_check.sh            (CUDA; fails if torch sees no GPU)
     bash scripts/gpu_check.sh --device cpu (everything on the CPU; the equivalence step then compares the
                                             engine with and without its kept cache on the CPU)
Exit status 0: every check passed; 1: a check failed; 2: the device is not available.
Needs only torch, transformers (and tokenizers, which transformers installs); no network.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is fetched: the model is built here
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "action inference. The field is 120 meters long and 80 meters wide.",
    "action wait",
    "He wants to build a fence around the whole field. How long is the fence?",
    "The answer is (A). The answer is (B). The answer is (C).",
    "You take notes while the user speaks: one line per note.",
]
SYSTEM = ("You take notes while the user speaks. Write one line: action inference and a short note, or action "
          "wait when nothing can be concluded yet. Keep every note short and about the question.")
SEGMENTS = ["A farmer has a field that is 120 meters long and 80 meters wide.",
            "He wants to build a fence around the whole field.",
            "How long is the fence?"]


class StopAfter:
    """A stop flag that trips after `n` checks (the engine checks once per token, or per prefill chunk)."""

    def __init__(self, n: int):
        self.n = n
        self.checks = 0

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks > self.n


def build_tokenizer():
    """A byte-level BPE tokenizer (512 tokens) trained on a few sentences, with a ChatML chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(CORPUS + [SYSTEM] + SEGMENTS, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", chat_template=CHAT_TEMPLATE)


def build_model(folder: Path, seed: int) -> None:
    """A random Llama-shaped model (2 layers, hidden 64) and its tokenizer, saved to `folder`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(folder)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         # wider than the usual 0.02: well separated logits, so greedy choices are no near-ties
                         initializer_range=0.3,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(folder)


def load_engine(folder: Path, device: str, dtype: str = "float32", reuse: bool = True):
    from voice_livemind.config import LLMConfig
    from voice_livemind.llm.transformers_backend import TransformersChatModel

    return TransformersChatModel(LLMConfig(engine="transformers", model=str(folder), device=device, dtype=dtype,
                                           threads=max(1, min(2, os.cpu_count() or 1)), reuse_kv_cache=reuse))


def reply_ids(engine, generation) -> list[int]:
    """The token ids of the last reply (the engine keeps the evaluated sequence for its prefix cache)."""
    return engine._prefix_cache.ids[generation.prompt_tokens:]


def messages_for(n_segments: int) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": " ".join(SEGMENTS[:n_segments])}]


class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def check(self, name: str, ok: bool, detail: str) -> None:
        print(f"  {'ok  ' if ok else 'FAIL'} {name:<24} {detail}", flush=True)
        if not ok:
            self.failures.append(name)


def feature_checks(engine, report: Report) -> None:
    tok = engine.tokenizer
    messages = messages_for(2)

    # Forced prefix: the reply is written after it, and its tokens are part of the prompt.
    engine.forget()
    plain = engine.generate(messages, 8)
    engine.forget()
    forced = engine.generate(messages, 8, prefix="action")
    report.check("forced prefix", forced.text.startswith("action")
                 and forced.prompt_tokens == plain.prompt_tokens + len(tok.encode("action", add_special_tokens=False)),
                 f"{forced.text!r} ({forced.prompt_tokens} prompt tokens, {plain.prompt_tokens} without it)")

    # Constrained first word: the first token is the first token of one of the choices, even when the model
    # would rather write something else.
    engine.forget()
    free = engine.generate(messages, 4, prefix="action")
    free_first = reply_ids(engine, free)[0]
    choices = (" inference", " wait")
    allowed = {tok.encode(w, add_special_tokens=False)[0] for w in choices}
    engine.forget()
    constrained = engine.generate(messages, 4, prefix="action", first_word_choices=choices)
    first = reply_ids(engine, constrained)[0]
    report.check("constrained first word", first in allowed,
                 f"{constrained.text!r}; unconstrained first token {tok.decode([free_first])!r}"
                 f"{' (the constraint changed it)' if free_first not in allowed else ''}")

    # Banned first words: the likeliest first token is banned, the reply starts with another one.
    banned_word = tok.decode([free_first])
    engine.forget()
    banned = engine.generate(messages, 4, prefix="action", banned_first_words=(banned_word,))
    banned_first = reply_ids(engine, banned)[0]
    banned_id = tok.encode(banned_word, add_special_tokens=False)[0]
    report.check("banned first word", banned_first != banned_id,
                 f"banned {banned_word!r}: {banned.text!r}")

    # Stop flag, checked once per token: tripped after 3 checks, the reply has 3 tokens.
    engine.forget()
    stopped = engine.generate(messages, 40, stop=StopAfter(3))
    report.check("stop flag", stopped.stop_reason == "stop_flag" and stopped.tokens <= 4,
                 f"stop_reason {stopped.stop_reason}, {stopped.tokens} tokens of at most 40")

    # The caller's test of a whole reply (a note ends with its first sentence): here, once it has 3 tokens.
    engine.forget()
    whole = engine.generate(messages, 40, stop_at=lambda reply: len(tok.encode(reply, add_special_tokens=False)) >= 3)
    report.check("whole-reply test", whole.stop_reason == "complete" and whole.tokens <= 4,
                 f"stop_reason {whole.stop_reason}, {whole.tokens} tokens of at most 40")

    # Stoppable prefill: a long prompt prefilled in chunks is stopped after the first chunk, with no token
    # generated; the next call reuses what it prefilled.
    from voice_livemind.llm.transformers_backend import PREFILL_CHUNK

    long_messages = [{"role": "system", "content": " ".join([SYSTEM] * 3)},
                     {"role": "user", "content": " ".join(SEGMENTS)}]
    engine.forget()
    halted = engine.generate(long_messages, 16, stop=StopAfter(1), stoppable_prefill=True)
    resumed = engine.generate(long_messages, 16)
    report.check("stoppable prefill", halted.stop_reason == "stop_flag" and halted.tokens == 0
                 and resumed.reused_tokens == PREFILL_CHUNK,
                 f"{halted.prompt_tokens}-token prompt stopped after one chunk; the next call reused "
                 f"{resumed.reused_tokens} tokens")

    # Kept-prefix reuse: a prefilled system prompt, then a conversation that grows; same text as cold.
    engine.forget()
    cold = engine.generate(messages, 12, prefix="action")
    engine.forget()
    engine.prefill(messages[:1])
    warm = engine.generate(messages, 12, prefix="action")
    grown = messages + [{"role": "assistant", "content": warm.text},
                        {"role": "user", "content": SEGMENTS[2]}]
    more = engine.generate(grown, 12)
    report.check("kept-prefix reuse", warm.text == cold.text and 0 < warm.reused_tokens < warm.prompt_tokens
                 and more.reused_tokens >= warm.prompt_tokens,
                 f"prefilled system prompt: reused {warm.reused_tokens} of {warm.prompt_tokens} prompt tokens "
                 f"(same reply as cold); the next turn reused {more.reused_tokens} of {more.prompt_tokens}")

    # Snapshot and restore: the same state answers twice with the same reply.
    engine.forget()
    engine.prefill(messages)
    saved = engine.snapshot()
    once = engine.generate(messages_for(3), 12)
    engine.restore(saved)
    twice = engine.generate(messages_for(3), 12)
    report.check("snapshot/restore", once.text == twice.text and once.reused_tokens == twice.reused_tokens > 0,
                 f"reused {twice.reused_tokens} tokens after restore, same reply")

    # Streaming: on_text receives the reply (prefix excluded) as it is generated.
    pieces: list[str] = []
    engine.forget()
    streamed = engine.generate(messages, 12, prefix="action", on_text=pieces.append)
    report.check("streaming", "".join(pieces) == streamed.text.removeprefix("action"),
                 f"{len(pieces)} pieces")


def greedy_ids(engine, prompts: list[list[dict]], n: int) -> list[list[int]]:
    out = []
    for messages in prompts:
        engine.forget()
        out.append(reply_ids(engine, engine.generate(messages, n)))
    return out


def margin_at(engine, messages: list[dict], ids: list[int], step: int) -> float:
    """The CPU's top-1 minus top-2 logit where two greedy runs part (a near-tie may flip on other hardware)."""
    import torch

    prompt = engine.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    prompt_ids = engine.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = engine.model(input_ids=torch.tensor([prompt_ids + ids[:step]], device=engine.device)).logits[0, -1]
    top = torch.topk(logits.float(), 2).values
    return float(top[0] - top[1])


def equivalence_check(folder: Path, device: str, report: Report, n_tokens: int) -> None:
    prompts = [messages_for(1), messages_for(2), messages_for(3)]
    reference = load_engine(folder, "cpu")  # every call cold (greedy_ids forgets the kept cache first)
    if device == "cpu":
        other, what = load_engine(folder, "cpu"), "CPU cold vs with a prefilled cache"
        ref_ids = greedy_ids(reference, prompts, n_tokens)
        # The kept cache: each prompt after a prefill of the previous one.
        other_ids = []
        other.forget()
        for messages in prompts:
            other.prefill(messages[:1])
            other_ids.append(reply_ids(other, other.generate(messages, n_tokens)))
    else:
        other, what = load_engine(folder, device), f"CPU vs {device}"
        ref_ids = greedy_ids(reference, prompts, n_tokens)
        other_ids = greedy_ids(other, prompts, n_tokens)
    same = sum(a == b for a, b in zip(ref_ids, other_ids))
    detail = f"{what}: {same} of {len(prompts)} greedy replies identical ({n_tokens} tokens, float32)"
    ok = same == len(prompts)
    if not ok:
        parts = []
        for messages, a, b in zip(prompts, ref_ids, other_ids):
            if a != b:
                step = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                margin = margin_at(reference, messages, a, step)
                parts.append(f"part at token {step}, CPU top-2 margin {margin:.2e}")
        detail += "; " + "; ".join(parts)
    report.check("equivalence", ok, detail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"],
                        help="dtype of the feature checks (the equivalence check is float32)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tokens", type=int, default=24, help="greedy tokens compared per prompt")
    args = parser.parse_args(argv)

    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        print(f"gpu_check: --device {device}, but torch {torch.__version__} sees no CUDA GPU "
              "(a CPU build, or no driver); run with --device cpu to check the rest", file=sys.stderr)
        return 2
    where = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "CPU"
    print(f"gpu_check: transformers engine on {device} ({where}), torch {torch.__version__}, "
          f"transformers {transformers.__version__}, dtype {args.dtype}")
    report = Report()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        folder = Path(tmp) / "tiny-llama"
        build_model(folder, args.seed)
        print(f"  built in {time.perf_counter() - start:.1f} s", flush=True)
        engine = load_engine(folder, device, args.dtype)
        print(f"  random Llama-shaped model: {sum(p.numel() for p in engine.model.parameters()):,} parameters, "
              f"vocabulary {len(engine.tokenizer)}, on {engine.model.device}")
        feature_checks(engine, report)
        del engine
        equivalence_check(folder, device, report, args.tokens)
    elapsed = time.perf_counter() - start
    if report.failures:
        print(f"gpu_check: FAILED ({', '.join(report.failures)}) in {elapsed:.1f} s")
        return 1
    print(f"gpu_check: all checks passed in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
