"""The chat-model protocol every backend implements (llama.cpp and transformers, a scripted fake in tests)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Protocol

Message = dict  # {"role": "system" | "user" | "assistant", "content": str}


STOP_REASONS = ("end", "cap", "loop", "answer", "newline", "complete", "stop_flag")


@dataclass(frozen=True)
class Generation:
    text: str  # the reply, including any forced prefix
    tokens: int  # new tokens generated
    prompt_tokens: int
    stop_reason: str  # one of STOP_REASONS: why generation ended
    reused_tokens: int = 0  # prompt tokens whose key/value cache was reused from the previous call

    @property
    def hit_token_cap(self) -> bool:
        return self.stop_reason == "cap"


class ChatModel(Protocol):
    name: str

    def set_threads(self, n: int, prefill: int = 0) -> None:
        """Run the following calls on `n` CPU threads, reading prompts on `prefill` (0: `n`) (llama.cpp: this
        model's context; transformers: torch's process-wide intra-op threads, `n` only, a no-op on CUDA). The
        pipeline gives recognition a core while the user speaks and the answer's prompt every core once they
        stop."""

    def forget(self) -> None:
        """Drop any state kept from earlier calls (a reused key/value cache)."""

    def snapshot(self):
        """An opaque copy of that state."""

    def restore(self, snapshot) -> None:
        """Go back to a state taken with `snapshot`."""

    def prefill(self, messages: list[Message], stop: threading.Event | None = None) -> None:
        """Compute and keep the key/value cache of `messages`, the fixed start of prompts to come (a system
        prompt, the conversation so far), so those prompts prefill only what follows it. A no-op for a
        backend that keeps no cache. A set `stop` ends it early (checked between chunks of the prompt):
        what was read stays in the cache."""

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
        """Greedy reply to `messages`.

        `prefix` is written as the start of the assistant's reply (the model continues it).
        `first_word_choices` constrains the first generated token to the first token of one of these strings
        (the decode-time constraint that keeps small models inside a format). Include the leading space
        where the word follows one: after "action" the choices are " inference" and " wait".
        `banned_first_words` is the opposite: the reply may not start with the first token of these.
        `stop_at_newline` ends the reply at its first line break (notes are one line);
        `stop_when_answered` ends it once it states "answer is (X)" (see llm.stopping).
        `stop_at` ends it once `stop_at(reply so far, prefix included)` is true (reason "complete"): the
        caller's own test that the reply is whole (a note ends with its first sentence).
        Every backend also stops repetition loops (llm.stopping.repeating_tail).
        `on_text` receives the reply as it streams (prefix excluded). `stop` ends generation early: it is
        checked once per token (an object with `is_set()`). `stoppable_prefill`: check it during a long
        prefill too, at some cost (a call likely to be stopped: a note, a speculative answer).
        """
        ...


def shared_prefix_len(a: list[int], b: list[int]) -> int:
    """How many tokens two sequences share from their start (the part of a kept cache a prompt can reuse)."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
