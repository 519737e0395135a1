"""How fast the transformers engine runs the language-model stages on a GPU, with models of the real shapes.

No weights can be downloaded on the GPU box (and 15 GB would not travel), so each model is built on the device
with random weights in the shape of the model a config names: SmolLM2-135M (the default notes and answer
model), Qwen2.5-1.5B and Qwen2.5-7B (configs/gpu.yaml). Speed depends on the shape, not the values; the text
is gibberish and a random model may stop early on a repetition loop (each line says how many tokens it wrote).

Per shape, through the engine the pipeline uses (voice_livemind.llm.transformers_backend):
  prefill     a cold ~320-token prompt read into the cache (tokens/s)
  first token the answer's first token, cold vs after the notes' prefix was kept (the LiveMind saving)
  decode      one reply of up to 128 tokens on a kept prefix (tokens/s, the engine's stop checks included)
and with transformers' own static batching (model.generate, B copies of the prompt, 64 new tokens each):
  batch B     tokens/s over all sequences and seconds per step: an upper bound for many sessions sharing
              one in-process model, a lower bound for a serving engine's continuous batching.

Run: python scripts/gpu_speed.py [--device cuda] [--dtype bfloat16] [--shapes smollm2-135m,qwen2.5-7b]
     python scripts/gpu_speed.py --device cpu --dtype float32 --shapes tiny --batches 1,2   (the test)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_check import SEGMENTS, SYSTEM, build_tokenizer  # noqa: E402

# Published configs of the models (config.json on the hub), enough to fix the cost of a token.
SHAPES = {
    "tiny": ("llama", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2, vocab_size=1024, tie_word_embeddings=True)),
    "smollm2-135m": ("llama", dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                                   num_attention_heads=9, num_key_value_heads=3, vocab_size=49152,
                                   tie_word_embeddings=True)),
    "qwen2.5-1.5b": ("qwen2", dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                                   num_attention_heads=12, num_key_value_heads=2, vocab_size=151936,
                                   tie_word_embeddings=True)),
    "qwen2.5-7b": ("qwen2", dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                                 num_attention_heads=28, num_key_value_heads=4, vocab_size=152064,
                                 tie_word_embeddings=False)),
}
PROMPT_TOKENS = 320  # about the answer prompt of a spoken question with its notes


def build(shape: str, tokenizer, device: str, dtype):
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    family, dims = SHAPES[shape]
    config_class = LlamaConfig if family == "llama" else Qwen2Config
    config = config_class(**dims, max_position_embeddings=4096, bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # initialised in its own dtype, on the device: no 28 GB float32 copy
    try:
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(config)
    finally:
        torch.set_default_dtype(previous)
    return model.to(device=device, dtype=dtype)


def prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def conversation(tokenizer, n_tokens: int) -> list[dict]:
    """A system prompt and a user turn of at least `n_tokens` tokens, ending in the question's last segment."""
    words: list[str] = []
    while True:
        words += SEGMENTS
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": " ".join(words)}]
        if len(prompt_ids(tokenizer, messages)) >= n_tokens:
            return messages


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def timed(device: str, call):
    sync(device)
    start = time.perf_counter()
    result = call()
    sync(device)
    return result, time.perf_counter() - start


def median_of(runs: int, device: str, setup, call):
    """The median seconds of `call` over `runs` runs, each after `setup` (the first calls of a shape pick
    kernels and allocate: one run alone can be 10x slow), and the result of the last run."""
    times, result = [], None
    for _ in range(runs):
        setup()
        result, seconds = timed(device, call)
        times.append(seconds)
    return result, statistics.median(times)


def measure_engine(engine, messages: list[dict], device: str, runs: int) -> None:
    notes_prefix = [messages[0], {"role": "user", "content": messages[1]["content"].rsplit(SEGMENTS[-1], 1)[0]}]
    engine.forget()
    engine.generate(messages, 8)  # warm-up: kernels, allocator
    _, seconds = median_of(runs, device, engine.forget, lambda: engine.prefill(messages))
    n = engine._prefix_cache.cache.get_seq_length()
    print(f"  prefill      {n} tokens cold in {seconds * 1000:.1f} ms ({n / seconds:,.0f} tokens/s)")

    cold, cold_s = median_of(runs, device, engine.forget, lambda: engine.generate(messages, 1))

    def notes_left_in_cache():  # what the notes stage leaves in the cache while the user speaks
        engine.forget()
        engine.prefill(notes_prefix)

    warm, warm_s = median_of(runs, device, notes_left_in_cache, lambda: engine.generate(messages, 1))
    print(f"  first token  cold {cold_s * 1000:.1f} ms ({cold.prompt_tokens} prompt tokens); after the kept "
          f"prefix {warm_s * 1000:.1f} ms ({warm.reused_tokens} of {warm.prompt_tokens} reused)")

    def whole_prompt_in_cache():
        engine.forget()
        engine.prefill(messages)

    # A random model soon repeats itself, and the engine stops a loop: a repetition penalty keeps it going.
    reply, seconds = median_of(runs, device, whole_prompt_in_cache,
                               lambda: engine.generate(messages, 128, repetition_penalty=1.3))
    print(f"  decode       {reply.tokens} tokens in {seconds * 1000:.0f} ms ({reply.tokens / seconds:,.1f} tokens/s, "
          f"{seconds / max(reply.tokens, 1) * 1000:.1f} ms per token; stopped: {reply.stop_reason})")


def measure_batches(model, tokenizer, messages: list[dict], device: str, batches: list[int], new: int) -> None:
    import torch

    ids = torch.tensor([prompt_ids(tokenizer, messages)], device=device)
    for b in batches:
        batch = ids.repeat(b, 1)
        with torch.inference_mode():
            model.generate(batch, max_new_tokens=2, min_new_tokens=2, do_sample=False,
                           pad_token_id=tokenizer.pad_token_id)  # warm-up at this batch size
            out, seconds = timed(device, lambda: model.generate(
                batch, max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=tokenizer.pad_token_id))
        made = (out.shape[1] - ids.shape[1]) * b
        print(f"  batch {b:>3}    {made} tokens in {seconds:.2f} s: {made / seconds:,.0f} tokens/s in all, "
              f"{seconds / new * 1000:.1f} ms per step ({ids.shape[1]}-token prompts)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--shapes", default="smollm2-135m,qwen2.5-1.5b,qwen2.5-7b")
    parser.add_argument("--batches", default="1,8,32,64", help="batch sizes of the static-batching runs")
    parser.add_argument("--new-tokens", type=int, default=64, help="tokens per sequence in the batched runs")
    parser.add_argument("--runs", type=int, default=3, help="runs per engine measurement (the median is shown)")
    args = parser.parse_args(argv)

    import torch
    import transformers

    from voice_livemind.llm.transformers_backend import TransformersChatModel

    transformers.logging.set_verbosity_error()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"gpu_speed: torch {torch.__version__} sees no CUDA GPU", file=sys.stderr)
        return 2
    shapes = args.shapes.split(",")
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        parser.error(f"unknown shape(s) {unknown}; known: {', '.join(SHAPES)}")
    dtype = getattr(torch, args.dtype)
    where = torch.cuda.get_device_name(torch.device(args.device)) if args.device.startswith("cuda") else "CPU"
    print(f"gpu_speed: {args.device} ({where}), torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{args.dtype}, random weights in each model's shape")
    tokenizer = build_tokenizer()
    messages = conversation(tokenizer, PROMPT_TOKENS)
    for shape in shapes:
        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        model, seconds = timed(args.device, lambda: build(shape, tokenizer, args.device, dtype))
        params = sum(p.numel() for p in model.parameters())
        print(f"{shape}: {params / 1e6:,.0f}M parameters, built on the device in {seconds:.1f} s")
        engine = TransformersChatModel.from_loaded(shape, model, tokenizer, args.device)
        measure_engine(engine, messages, args.device, args.runs)
        measure_batches(model, tokenizer, messages, args.device, [int(b) for b in args.batches.split(",")],
                        args.new_tokens)
        if args.device.startswith("cuda"):
            print(f"  peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
        del engine, model
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
