"""The LiveMind loop: reason about closed segments while the user is still speaking.

The pipeline calls `observe` with the committed transcript whenever it changes and `step` when the
compute lane is free; one step is one inference call covering every segment that closed since the last
one (the paper's sequential schedule: calls are never cancelled, segments that close during a call are
handled together in the next). At the end of the utterance, `answer_messages` gives the output model the
whole transcript plus the notes.
"""

from __future__ import annotations

from dataclasses import dataclass

from voice_livemind.config import LiveMindConfig
from voice_livemind.livemind import prompts
from voice_livemind.livemind.actions import Action, action_set, parse_reply
from voice_livemind.livemind.memory import Entry, InferenceMemory
from voice_livemind.livemind.segmenter import closed_segments
from voice_livemind.llm.base import ChatModel, Generation, Message


@dataclass(frozen=True)
class StepResult:
    action: Action
    segments: tuple[str, ...]
    generation: Generation


class LiveMindLoop:
    def __init__(self, model: ChatModel, config: LiveMindConfig, repetition_penalty: float = 1.0):
        self.model = model
        self.config = config
        self.allowed = action_set(config.actions)
        self.repetition_penalty = repetition_penalty
        self.memory = InferenceMemory()
        self.segments: list[str] = []
        self.truncations = 0

    def reset(self) -> None:
        self.memory = InferenceMemory()
        self.segments = []

    def observe(self, stable_text: str) -> int:
        """Take the latest committed text; return how many memory entries a revision invalidated."""
        self.segments = closed_segments(stable_text, self.config.granularity, self.config.min_segment_chars)
        dropped = self.memory.align(self.segments)
        self.truncations += bool(dropped)
        return dropped

    def pending(self) -> list[str]:
        return self.segments[self.memory.covered():]

    def step(self, stop=None) -> StepResult | None:
        new = self.pending()
        if not new:
            return None
        messages = prompts.inference_messages(self.config.prompts.inference_system, self.segments, self.memory.notes())
        generation = self.model.generate(
            messages,
            self.config.max_note_tokens,
            prefix="action",
            first_word_choices=self.allowed,
            stop_at_newline=True,
            stop=stop,
            repetition_penalty=self.repetition_penalty,
        )
        action = parse_reply(generation.text, self.allowed)
        self.memory.add(Entry(tuple(new), action.name, action.content))
        return StepResult(action, tuple(new), generation)

    def answer_messages(self, transcript: str) -> list[Message]:
        return prompts.answer_messages(self.config.prompts.answer_system, transcript, self.memory.notes())
