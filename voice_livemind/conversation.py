"""Multi-turn conversation: a bounded history of earlier exchanges, shown to the models.

The history goes right after the system prompt, as prior user/assistant turns: in the answer prompt, and
in livemind mode in the notes prompts too (a follow-up question is understood, and the answer prompt still
continues the notes prompts word for word, so their key/value cache is reused). The LiveMind notes
themselves belong to one turn and are reset when the next one starts. The history is bounded both in
exchanges and in characters, the oldest going first, so a long session never makes prompts grow without
limit.
"""

from __future__ import annotations

from collections import deque

from voice_livemind.config import ConversationConfig
from voice_livemind.llm.base import Message


class Conversation:
    def __init__(self, config: ConversationConfig):
        self.max_turns = max(0, config.max_turns)
        self.max_chars = max(0, config.max_chars)
        self._turns: deque[tuple[str, str]] = deque()

    def __len__(self) -> int:
        return len(self._turns)

    def add(self, user: str, assistant: str) -> None:
        """Record one exchange; an exchange with nothing said by either side is not kept."""
        user, assistant = user.strip(), assistant.strip()
        if not user or not assistant or self.max_turns == 0:
            return
        self._turns.append((user, assistant))
        while len(self._turns) > self.max_turns or (self._chars() > self.max_chars and self._turns):
            self._turns.popleft()

    def _chars(self) -> int:
        return sum(len(u) + len(a) for u, a in self._turns)

    def clear(self) -> None:
        self._turns.clear()

    def messages(self) -> list[Message]:
        out: list[Message] = []
        for user, assistant in self._turns:
            out += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        return out

    def with_history(self, messages: list[Message]) -> list[Message]:
        """`messages` (system prompt first) with the earlier exchanges inserted after the system prompt."""
        return after_system(messages, self.messages())


def after_system(messages: list[Message], history: list[Message]) -> list[Message]:
    """`messages` with `history` inserted after its system prompt (at the start if it has none)."""
    if not history:
        return messages
    head = 1 if messages and messages[0]["role"] == "system" else 0
    return messages[:head] + list(history) + messages[head:]
