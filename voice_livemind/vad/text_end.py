"""The transcript's end-of-turn probability from the loaded chat model (LiveKit's turn detector idea, here
with the project's own small model, not fine-tuned for it).

`TextEndOfTurn(model)(text) -> p`: the probability that a user's message ends after `text`, read from the
model's next-token distribution in its chat template. The text is normalised as LiveKit normalises it
(lower case, no punctuation but apostrophes): Whisper's punctuation is a guess, and a "?" it writes after
"what is the capital of" would give the answer away.
"""

from __future__ import annotations

import re

SYSTEM = "You are a helpful voice assistant. The user speaks; their words are transcribed."
_NOT_WORD = re.compile(r"[^\w\s']+")


def normalise_for_turn(text: str) -> str:
    return " ".join(_NOT_WORD.sub(" ", text.lower()).split())


class TextEndOfTurn:
    def __init__(self, model):
        self.model = model  # a chat model with `end_of_turn_probability` (llm.llama_cpp_backend)

    def __call__(self, text: str) -> float:
        words = normalise_for_turn(text)
        if not words:
            return 0.0
        return self.model.end_of_turn_probability([{"role": "system", "content": SYSTEM}], words)
