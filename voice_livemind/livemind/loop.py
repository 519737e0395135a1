"""The LiveMind loop: reason about closed segments while the user is still speaking (or typing).

The driver (the voice pipeline, or the text benchmark) calls `observe` with the text received so far
whenever it changes, and `step` when the compute lane is free. One step is one inference call covering
every segment that closed since the previous call: the paper's sequential schedule, in which a running
call is never cancelled and segments that close meanwhile are handled together in the next call. At the
end of the input, `answer_messages` gives the output model every segment plus the notes.

With the preemptive schedule a call can be stopped (its stop flag) to make way for recognition or the
end-of-turn work: it is then not a note yet. The next call goes on where it stopped: the same prompt, with
the partial reply written as the start of the reply (prefilled, mostly from the kept key/value cache, not
generated again). Segments that closed meanwhile wait for the call after it. Only if earlier text was
revised is the partial reply dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from voice_livemind.config import LiveMindConfig
from voice_livemind.conversation import after_system
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
    yielded: bool = False  # stopped before it ended (preemptive schedule): not a note, nothing was added


@dataclass(frozen=True)
class _Partial:
    """A stopped call, to be resumed."""

    segments: tuple[str, ...]  # all segments its prompt held
    new: tuple[str, ...]  # the ones it was writing a note for
    text: str  # its reply so far, "action ..." included
    tokens: int  # tokens it generated
    entries: int  # memory entries when it started


@dataclass
class LoopStats:
    calls: int = 0
    parsed: int = 0  # replies that followed the `action <name>.` format
    cap_hits: int = 0  # notes cut by max_note_tokens
    loops_stopped: int = 0  # notes cut by the repetition guard
    truncations: int = 0  # times a revision of earlier text dropped memory entries
    entries_dropped: int = 0
    yields: int = 0  # calls stopped to make way for the end of the turn (preemptive schedule)
    resumed: int = 0  # calls that went on from a stopped call's partial reply

    def to_json(self) -> dict:
        return dict(vars(self))


class LiveMindLoop:
    def __init__(self, model: ChatModel, config: LiveMindConfig, repetition_penalty: float = 1.0):
        if config.schedule not in ("sequential", "preemptive"):
            raise ValueError(f"unknown livemind.schedule {config.schedule!r}")
        self.model = model
        self.config = config
        self.allowed = action_set(config.actions)
        self.system = (config.prompts.inference_system if config.actions == "simplified"
                       else config.prompts.inference_system_complete)
        if config.layout == "multi_turn":  # the notes and the answer share one system prompt
            self.system = prompts.multi_turn_system(self.system, config.prompts.answer_system)
        self.repetition_penalty = repetition_penalty
        self.reset()

    def reset(self, history: list[Message] = ()) -> None:
        """A new turn: the inference memory belongs to one utterance. `history`: the conversation's earlier
        exchanges, placed after the system prompt of every prompt of the turn."""
        self.history = list(history)
        self.memory = InferenceMemory()
        self.segments: list[str] = []
        self.stats = LoopStats()
        self._partial: _Partial | None = None

    def observe(self, text: str) -> int:
        """Take the text received so far; return how many memory entries a revision invalidated."""
        self.segments = closed_segments(text, self.config.granularity, self.config.min_segment_chars)
        return self._align(self.segments)

    def _align(self, segments: list[str]) -> int:
        dropped = self.memory.align(segments)
        if dropped:
            self.stats.truncations += 1
            self.stats.entries_dropped += dropped
        return dropped

    def pending(self) -> list[str]:
        return self.segments[self.memory.covered():]

    def step(self, stop=None) -> StepResult | None:
        partial, self._partial = self._partial, None
        if partial is not None and self._resumable(partial):
            segments, new, prefix, spent = list(partial.segments), partial.new, partial.text, partial.tokens
        else:
            segments, new, prefix, spent = list(self.segments), tuple(self.pending()), "action", 0
        if not new:
            return None
        messages = after_system(prompts.inference_messages(self.config.layout, self.system, self.memory.entries,
                                                           segments), self.history)
        generation = self.model.generate(
            messages,
            max(1, self.config.max_note_tokens - spent),  # the note cap counts the tokens written before
            prefix=prefix,
            # the reply must start "action <allowed name>" (a resumed one already has its name)
            first_word_choices=tuple(" " + name for name in self.allowed) if prefix == "action" else (),
            stop_at_newline=True,
            stop=stop,
            repetition_penalty=self.repetition_penalty,
            stoppable_prefill=self.config.schedule == "preemptive",
        )
        self.stats.resumed += spent > 0
        if generation.stop_reason == "stop_flag" and self.config.schedule == "preemptive":
            self._partial = _Partial(tuple(segments), new, generation.text, spent + generation.tokens,
                                     len(self.memory.entries))
            self.stats.yields += 1
            return StepResult(parse_reply(generation.text, self.allowed), new, generation, yielded=True)
        action = parse_reply(generation.text, self.allowed)
        self.memory.add(Entry(new, action.name, action.content))
        self.stats.calls += 1
        self.stats.parsed += action.parsed
        self.stats.cap_hits += generation.stop_reason == "cap"
        self.stats.loops_stopped += generation.stop_reason == "loop"
        return StepResult(action, new, generation)

    def _resumable(self, partial: _Partial) -> bool:
        """No revision since it stopped: the memory and the segments it saw are unchanged."""
        return (len(self.memory.entries) == partial.entries
                and tuple(self.segments[: len(partial.segments)]) == partial.segments)

    def answer_messages(self, text: str) -> list[Message]:
        """The output model's prompt for the complete input `text`."""
        segments = closed_segments(text, self.config.granularity, self.config.min_segment_chars, final=True)
        self._align(segments)  # a last-moment revision invalidates notes like any other
        messages = prompts.answer_messages(self.config.layout, self.config.prompts.answer_system,
                                           self.memory.entries, segments, inference_system=self.system)
        return after_system(messages, self.history)

    def prompt_start(self) -> list[Message]:
        """What every notes prompt of this turn starts with (multi-turn layout: the answer prompt too)."""
        return after_system([{"role": "system", "content": self.system}], self.history)
