"""Chat models through Hugging Face transformers, on CPU or CUDA.

GGUF files (the packaged SmolLM2) are dequantised once and cached as safetensors: dequantising takes
~25 s, loading the cached copy a fraction of a second.
"""

from __future__ import annotations

import copy
import logging
import threading
from pathlib import Path
from typing import Callable

from voice_livemind.config import LLMConfig
from voice_livemind.llm.base import Generation, Message, shared_prefix_len
from voice_livemind.llm.stopping import answer_stated, repeating_tail
from voice_livemind.models import ModelNotFoundError, cache_dir, resolve

# Prompt tokens per forward pass when a prefill may be stopped: ~0.15 s on 2 CPU cores. Each pass has a fixed
# cost (320 tokens: 0.44 s in one pass, 0.64 s in 64-token chunks), so only callers that expect to be stopped
# ask for it.
PREFILL_CHUNK = 64

log = logging.getLogger(__name__)


def _converted_dir(gguf: Path) -> Path:
    return cache_dir() / "converted" / gguf.stem


def convert_gguf(gguf: Path) -> Path:
    """Dequantise a GGUF checkpoint into a cached transformers folder (once)."""
    target = _converted_dir(gguf)
    if (target / "config.json").exists():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.warning("converting %s to a cached safetensors copy in %s (once, ~25 s)", gguf.name, target)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
    # The weights are plain float tensors now; drop the GGUF quantiser so save_pretrained accepts them.
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")
    model.hf_quantizer = None
    partial = target.with_name(target.name + ".partial")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(target)  # atomic: an interrupted conversion never looks complete
    return target


def model_folder(location: str) -> str:
    """A folder or hub id that `from_pretrained` can load."""
    where = resolve(location)
    if where.kind == "hub":
        return where.value
    path = Path(where.value)
    if path.is_file() and path.suffix == ".gguf":
        return str(convert_gguf(path))
    if path.is_dir() and not (path / "config.json").exists():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return str(convert_gguf(ggufs[0]))
        raise ModelNotFoundError(f"{path} holds neither a transformers model (config.json) nor one .gguf file")
    return str(path)


class _FirstWordConstraint:
    """Logits processor: at the first generated step, only the first tokens of the allowed words (or any
    token but the first tokens of the banned ones)."""

    def __init__(self, token_ids: list[int], prompt_len: int, ban: bool = False):
        self._ids = token_ids
        self._prompt_len = prompt_len
        self._ban = ban

    def __call__(self, input_ids, scores):
        if input_ids.shape[1] == self._prompt_len:
            import torch

            if self._ban:
                scores = scores.clone()
                scores[:, self._ids] = float("-inf")
            else:
                mask = torch.full_like(scores, float("-inf"))
                mask[:, self._ids] = 0
                scores = scores + mask
        return scores


class TransformersChatModel:
    def __init__(self, config: LLMConfig):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = config.model
        folder = model_folder(config.model)
        device = config.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cpu":
            torch.set_num_threads(config.threads)
        dtype = "auto" if config.dtype == "auto" else getattr(torch, config.dtype)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device)
        self._attach(model, tokenizer, device, config.reuse_kv_cache)

    @classmethod
    def from_loaded(cls, name: str, model, tokenizer, device: str, reuse_kv_cache: bool = True):
        """The engine around a model already in memory (scripts/gpu_speed.py builds model-shaped random
        weights on the GPU: saving and reloading a 7B model would take longer than the measurement)."""
        engine = cls.__new__(cls)
        engine.name = name
        engine._attach(model, tokenizer, device, reuse_kv_cache)
        return engine

    def _attach(self, model, tokenizer, device: str, reuse_kv_cache: bool) -> None:
        self.tokenizer = tokenizer
        self.model = model.eval()
        self.device = device
        self._reuse = reuse_kv_cache
        self._prefix_cache = PrefixCache()
        self._newline_ids = {i for t, i in self.tokenizer.get_vocab().items()
                             if "\n" in self.tokenizer.convert_tokens_to_string([t])}

    def set_threads(self, n: int, prefill: int = 0) -> None:
        """torch's intra-op threads for the following calls (process-wide: every torch model in the process
        shares them); a no-op on CUDA."""
        if n < 1:
            raise ValueError(f"threads must be at least 1, got {n}")
        if self.device == "cpu":
            import torch

            torch.set_num_threads(n)

    def forget(self) -> None:
        """Drop the kept key/value cache: the next call starts cold (benchmarks start every run this way)."""
        self._prefix_cache = PrefixCache()

    def snapshot(self):
        """A copy of the kept cache, to hand the same state to several answers (see bench text)."""
        return copy.deepcopy(self._prefix_cache)

    def restore(self, snapshot) -> None:
        self._prefix_cache = copy.deepcopy(snapshot)

    def prefill(self, messages: list[Message], stop: threading.Event | None = None) -> None:
        if not self._reuse:
            return
        text = self.tokenizer.apply_chat_template(messages, tokenize=False)  # no generation prompt: a prefix
        ids = self.tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"].to(self.device)
        cache, reused = self._prefix_cache.take(ids[0].tolist())
        cache, done = self._extend(ids, cache, reused, ids.shape[1], stop=stop)
        self._prefix_cache.keep(ids[0, :done].tolist(), cache)

    def _extend(self, ids, cache, start: int, end: int, stop) -> tuple[object, int]:
        """Run the prompt `ids[:, start:end]` into `cache`: in one pass, or with a `stop` flag chunk by chunk,
        checking it between chunks. Returns (cache, tokens now in it): fewer than `end` when stopped."""
        import torch

        with torch.inference_mode():
            while start < end and not (stop is not None and stop.is_set()):
                chunk_end = end if stop is None else min(start + PREFILL_CHUNK, end)
                cache = self.model(input_ids=ids[:, start:chunk_end], cache=cache, use_cache=True,
                                   logits_to_keep=1).cache
                start = chunk_end
        return cache, start

    def generate(
        self,
        messages: list[Message],
        max_new_tokens: int,
        *,
        prefix: str = "",
        first_word_choices: tuple[str, ...] = (),
        banned_first_words: tuple[str, ...] = (),
        stop_at_newline: bool = False,
        stop_when_answered: bool = False,
        stop_at: Callable[[str], bool] | None = None,
        on_text: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
        repetition_penalty: float = 1.0,
        stoppable_prefill: bool = False,
    ) -> Generation:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList, TextStreamer

        prompt = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) + prefix
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
        prompt_len = inputs["input_ids"].shape[1]
        cache, reused = self._prefix_cache.take(inputs["input_ids"][0].tolist()) if self._reuse else (None, 0)
        if stoppable_prefill and self._reuse and stop is not None and prompt_len - 1 - reused > PREFILL_CHUNK:
            # A long prefill is not one uninterruptible step: in chunks, the stop flag is checked between them.
            cache, done = self._extend(inputs["input_ids"], cache, reused, prompt_len - 1, stop)
            if done < prompt_len - 1:  # stopped: what was prefilled is kept for the next call
                self._prefix_cache.keep(inputs["input_ids"][0, :done].tolist(), cache)
                return Generation(text=prefix, tokens=0, prompt_tokens=int(prompt_len), stop_reason="stop_flag",
                                  reused_tokens=reused)

        processors = LogitsProcessorList()
        if first_word_choices:
            ids = {self.tokenizer.encode(w, add_special_tokens=False)[0] for w in first_word_choices}
            processors.append(_FirstWordConstraint(sorted(ids), prompt_len))
        if banned_first_words:
            ids = {self.tokenizer.encode(w, add_special_tokens=False)[0] for w in banned_first_words}
            processors.append(_FirstWordConstraint(sorted(ids), prompt_len, ban=True))

        guard = _StopGuard(self.tokenizer, prompt_len, stop, self._newline_ids if stop_at_newline else set(),
                           stop_when_answered, prefix, stop_at)
        streamer = None
        if on_text is not None:
            streamer = TextStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
            streamer.on_finalized_text = lambda text, stream_end=False: text and on_text(text)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                repetition_penalty=repetition_penalty,
                logits_processor=processors,
                stopping_criteria=StoppingCriteriaList([guard]),
                streamer=streamer,
                pad_token_id=self.tokenizer.eos_token_id,
                cache=cache,
                use_cache=True,
                return_dict_in_generate=True,
            )
        sequence = output.sequences[0]
        if self._reuse:
            self._prefix_cache.keep(sequence.tolist(), output.cache)
        new_ids = sequence[prompt_len:].tolist()
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        if guard.reason:
            reason = guard.reason
        elif new_ids and new_ids[-1] == self.tokenizer.eos_token_id:
            reason = "end"
        else:
            reason = "cap" if len(new_ids) >= max_new_tokens else "end"
        return Generation(text=prefix + text, tokens=len(new_ids), prompt_tokens=int(prompt_len), stop_reason=reason,
                          reused_tokens=reused)




class PrefixCache:
    """The key/value cache of the last sequence the model processed, reused for the next prompt's shared start.

    Notes written while the user speaks are the start of the next prompt (and, with the multi-turn layout,
    of the answer prompt), so only the new text has to be prefilled. When the new prompt departs from the
    cached sequence (a revised word), the cache is cropped to the common prefix: it never holds anything
    the new prompt does not start with. One cache per model keeps memory bounded.
    """

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.cache = None

    def take(self, prompt_ids: list[int]):
        """(cache cropped to the prefix shared with `prompt_ids`, its length), or (None, 0)."""
        cache, self.cache = self.cache, None  # generate() extends it in place: it is theirs now
        if cache is None:
            return None, 0
        # At least one prompt token must still run, to produce the logits of the next token.
        shared = min(shared_prefix_len(self.ids, prompt_ids), cache.get_seq_length(), len(prompt_ids) - 1)
        if shared < 1:
            return None, 0
        cache.crop(shared - cache.get_seq_length())  # a negative count: drop that many from the end
        return cache, shared

    def keep(self, ids: list[int], cache) -> None:
        self.ids, self.cache = ids, cache


class _StopGuard:
    """Stopping criterion: the caller's stop flag, a line break, a stated answer, a repetition loop, or the
    caller's test of a whole reply."""

    def __init__(self, tokenizer, prompt_len: int, stop, newline_ids: set[int], stop_when_answered: bool,
                 prefix: str = "", stop_at=None):
        self._tokenizer = tokenizer
        self._prefix = prefix  # a forced start of the reply ("The answer is (") counts as said
        self._prompt_len = prompt_len
        self._stop = stop
        self._newline_ids = newline_ids
        self._answered = stop_when_answered
        self._stop_at = stop_at
        self.reason: str | None = None

    def __call__(self, input_ids, scores, **kwargs) -> bool:
        import torch

        self.reason = self._check(input_ids[0, self._prompt_len :].tolist())
        # On the model's device: generate() combines it with its own flags there (a CPU tensor fails on CUDA).
        return torch.full((input_ids.shape[0],), self.reason is not None, dtype=torch.bool, device=input_ids.device)

    def _check(self, new_ids: list[int]) -> str | None:
        if self._stop is not None and self._stop.is_set():
            return "stop_flag"
        if not new_ids:
            return None
        if new_ids[-1] in self._newline_ids:
            return "newline"
        if repeating_tail(new_ids):
            return "loop"
        if self._answered or self._stop_at is not None:
            reply = self._prefix + self._tokenizer.decode(new_ids, skip_special_tokens=True)
            if self._answered and answer_stated(reply):
                return "answer"
            if self._stop_at is not None and self._stop_at(reply):
                return "complete"
        return None
