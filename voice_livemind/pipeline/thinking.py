"""Thinking: the LiveMind loop on the language-model lane while the user speaks.

It owns the turn's notes (the loop's memory) and the running note call. The scheduler tells it what was
heard (`observe`), asks it for work when the model's lane is idle (`warm`, `write_note`) and stops a running
note or warm-up when something more urgent needs the lane (`yield_note`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from voice_livemind import events as ev
from voice_livemind.asr.words import Word, join_words
from voice_livemind.config import Config
from voice_livemind.conversation import after_system
from voice_livemind.livemind.loop import LiveMindLoop
from voice_livemind.modes import Mode
from voice_livemind.pipeline.answer import output_system
from voice_livemind.pipeline.backends import Backends
from voice_livemind.pipeline.lanes import Job, Lane


@dataclass
class _Heard:
    """What the last pass heard, and the pauses no pass has heard past yet (input times)."""

    text: str = ""
    words: tuple[Word, ...] = ()
    until: float = 0.0
    pauses: list[float] = field(default_factory=list)
    in_pause: bool = False  # the current pause is already counted


class Thinking:
    def __init__(self, config: Config, mode: Mode, backends: Backends, lane: Lane, clock,
                 emit: Callable[..., ev.Event]):
        self.config = config
        self.mode = mode
        self.backends = backends
        self.lane = lane
        self.clock = clock
        self.emit = emit
        self.loop = LiveMindLoop(backends.inference_model, config.livemind, config.answer.repetition_penalty,
                                 answer_system=output_system(config))
        self.preemptive = config.livemind.schedule == "preemptive"
        self.note: Job | None = None  # the running note call
        self.warming: Job | None = None  # the running (or queued) prefill of the prompts' fixed start
        # Before the first turn too: the system prompt is read while nobody speaks (a cold model would read it
        # during the first question, on the core recognition needs), and the first turn's warm-up finds it cached.
        self.warm_due = self.mode is not Mode.TRANSCRIBE
        self._turn = 0
        self._segments_seen: tuple[str, ...] = ()
        self._heard = _Heard()

    def start_turn(self, turn: int, history: list) -> None:
        """A new turn: the notes belong to one turn, the conversation's history does not."""
        self._turn = turn
        self.loop.reset(history)
        self._segments_seen = ()
        self._heard = _Heard()
        self.warm_due = self.mode is not Mode.TRANSCRIBE

    def observe(self, text: str, words: tuple[Word, ...] = (), heard_until: float = 0.0) -> None:
        """A pass changed the transcript (`text`: what the segments are cut from; `words`: every word the
        pass heard, committed and not, with times): segments may have closed (or been revised)."""
        self._heard.text, self._heard.words, self._heard.until = text, words, heard_until
        self._mark_pauses()
        self._observe(text)

    def pause(self, pause_s: float, speech_end: float) -> None:
        """The speaker has been silent for `pause_s` since `speech_end` (input time), 0 while they speak.
        A pause of `livemind.pause_break_ms` ends a segment (see segmenter.closed_segments)."""
        heard, limit = self._heard, self.config.livemind.pause_break_ms / 1000
        if pause_s == 0.0:
            heard.in_pause = False
        elif not heard.in_pause and limit > 0 and pause_s >= limit and self.mode is Mode.LIVEMIND:
            heard.in_pause = True
            heard.pauses.append(speech_end)
            if self._mark_pauses():  # the last pass heard the words before it: their segment closes now
                self._observe(heard.text)

    def _mark_pauses(self) -> bool:
        """Tell the loop where the pauses that a pass has heard past fall in the text: after the words said
        before them (a word belongs before a pause when its middle does: Whisper's word times are rough)."""
        heard, marked = self._heard, False
        for t in [t for t in heard.pauses if heard.until >= t]:
            heard.pauses.remove(t)
            before = [w for w in heard.words if (w.start + w.end) / 2 < t]
            if before:
                self.loop.pause_after(len(join_words(before).split()))
                marked = True
        return marked

    def _observe(self, text: str) -> None:
        dropped = self.loop.observe(text)
        if dropped:
            self.emit(ev.MemoryTruncated, kept=len(self.loop.memory.entries), dropped=dropped)
        segments = tuple(self.loop.segments)
        if segments != self._segments_seen:
            self._segments_seen = segments
            self.emit(ev.SegmentsClosed, segments=segments)

    def has_work(self) -> bool:
        return self.warm_due or (self.mode is Mode.LIVEMIND and bool(self.loop.pending()))

    def next_job(self) -> None:
        """Give the idle lane the turn's next piece of thinking: warm the cache first, then notes."""
        if self.warm_due:
            self._warm()
        elif self.mode is Mode.LIVEMIND and self.loop.pending():
            self._write_note()

    def yield_note(self) -> None:
        """Preemptive schedule: the running note stops at its next token (and resumes later if it can), the
        warm-up prefill at its next chunk (what it read stays cached; the prompt that follows reads the rest).
        A warm-up that runs into the end of a short question would otherwise hold the answer back."""
        if self.preemptive:
            for job in (self.note, self.warming):
                if job is not None:
                    job.stop.set()

    def _warm(self) -> None:
        """While the user speaks, put the fixed start of this turn's prompts (system prompt + conversation)
        into the model's key/value cache, so the end of the turn prefills only what the user said. Every
        mode does this: it is not LiveMind, any pipeline can."""
        self.warm_due = False
        system = self.config.livemind.prompts
        if self.mode is Mode.LIVEMIND:
            start = self.loop.prompt_start()  # the answer prompt of the single layout differs: not warmed
            models = [self.backends.inference_model, self.backends.answer_model]
        else:
            start = after_system([{"role": "system", "content": system.baseline_system
                                   if self.mode is Mode.BASELINE else system.answer_system}], self.loop.history)
            models = [self.backends.answer_model]
        distinct = list({id(getattr(m, "model", m)): m for m in models}.values())  # a shared model once
        job = Job("warm", lambda job: [m.prefill(start, stop=job.stop) for m in distinct])
        job.done = lambda result: setattr(self, "warming", None) if self.warming is job else None
        self.warming = self.lane.submit(job)

    def _write_note(self) -> None:
        request, turn = self.loop.prepare(), self._turn
        if request is None:
            return

        def done(generation) -> None:
            self.note = None
            if turn != self._turn or generation is None:
                return  # a note of a turn that has ended, or dropped before it ran
            result = self.loop.complete(request, generation)
            compute_s = self.clock.now() - job.started
            if result.yielded:
                self.emit(ev.NoteYielded, segments=result.segments, partial=generation.text, compute_s=compute_s)
            else:
                self.emit(ev.Note, action=result.action.name, text=result.action.content,
                          segments=result.segments, compute_s=compute_s, parsed=result.action.parsed)

        job = self.note = self.lane.submit(Job("note", lambda job: request.run(job.stop), done))
