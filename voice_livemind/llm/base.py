"""The chat-model protocol every backend implements (transformers here, a scripted fake in tests)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Protocol

Message = dict  # {"role": "system" | "user" | "assistant", "content": str}


@dataclass(frozen=True)
class Generation:
    text: str  # the reply, including any forced prefix
    tokens: int  # new tokens generated
    prompt_tokens: int
    hit_token_cap: bool  # stopped by max_new_tokens rather than by the model
    stopped: bool = False  # stopped early by the caller's stop flag


class ChatModel(Protocol):
    name: str

    def generate(
        self,
        messages: list[Message],
        max_new_tokens: int,
        *,
        prefix: str = "",
        first_word_choices: tuple[str, ...] = (),
        stop_at_newline: bool = False,
        on_text: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Generation:
        """Greedy reply to `messages`.

        `prefix` is written as the start of the assistant's reply (the model continues it).
        `first_word_choices` constrains the first generated word to one of these strings (the decode-time
        constraint LiveMind needs to keep small models inside the action format).
        `on_text` receives the reply as it streams (prefix excluded). `stop` ends generation early.
        """
        ...
