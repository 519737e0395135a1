"""One spoken answer: generation on the language-model lane, sentences out of its stream, each sentence
synthesised on the speech lane and played, in order.

Everything here runs on the scheduler's thread except the two jobs' `work`: the generation hands its text
back through the inbox, the synthesis its audio. A speculative answer (started in a pause before the end of
the turn was confirmed) keeps its events and audio in `held` until the scheduler releases or discards it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from voice_livemind import events as ev
from voice_livemind.conversation import after_system
from voice_livemind.livemind import prompts
from voice_livemind.livemind.loop import LiveMindLoop
from voice_livemind.modes import Mode
from voice_livemind.llm.base import Generation
from voice_livemind.pipeline.lanes import Inbox, Job, Lane
from voice_livemind.tts.chunker import SentenceChunker


class AnswerState(enum.Enum):
    GENERATING = "generating"
    SPEAKING = "speaking"  # generated; sentences still being synthesised
    DONE = "done"


@dataclass(frozen=True)
class AnswerRequest:
    messages: list
    prefix: str  # forced start of the reply ("The answer is (")
    choices: tuple[str, ...]  # allowed first words (option letters)
    max_sentences: int  # 0: no limit


def output_system(config) -> str:
    """The system prompt of LiveMind's output stage (answer.output): the project's answer-first prompt or the
    paper's output prompt. In the multi-turn layout the notes' system prompt holds it too."""
    system = config.livemind.prompts
    return system.output_system if config.answer.output == "paper" else system.answer_system


def answer_request(config, mode: Mode, text: str, livemind: LiveMindLoop | None, history: list) -> AnswerRequest:
    """The answer prompt of each mode for the complete transcript `text` (bench text asks the same);
    `livemind` holds the turn's notes (needed in livemind mode only)."""
    system = config.livemind.prompts
    paper = config.answer.output == "paper"  # every mode answers freely, as in the paper's comparison
    prefix, choices = ("", ()) if paper else prompts.answer_start(text, config.answer.choice_prefix)
    reasoning = mode is Mode.BASELINE
    if mode is Mode.LIVEMIND:
        messages = livemind.answer_messages(text)  # the history is in it, where the notes had it
        # The paper's fallback: with no note to answer from, the output model reasons step by step.
        reasoning = paper and not livemind.has_notes()
    if mode is not Mode.LIVEMIND or reasoning:  # baseline: reasoning, no forced start; direct: no notes
        messages = after_system(prompts.baseline_messages(system.baseline_system if reasoning
                                                          else system.answer_system, text), history)
    if reasoning:
        prefix, choices = "", ()
    # A reasoning answer (and every answer in the paper's setting) is spoken whole; the others say a short one.
    max_sentences = 0 if reasoning or paper else config.answer.max_sentences
    return AnswerRequest(messages, prefix, choices, max_sentences)


@dataclass
class _Piece:
    text: str
    played: bool = False


@dataclass
class AnswerContext:
    """What an answer needs from the pipeline (all used on the scheduler's thread)."""

    config: object  # Config
    mode: str
    model: object  # ChatModel of the answer role
    tts: object  # TTS backend
    llm_lane: Lane
    tts_lane: Lane
    inbox: Inbox
    emit: Callable[..., ev.Event]
    play: Callable[[np.ndarray, int, str, int], None]
    finished: Callable[["Answer"], None]
    clock: object


@dataclass(eq=False)
class Answer:
    ctx: AnswerContext
    turn: int
    text: str  # the transcript it answers
    request: AnswerRequest
    speculative: bool = False
    held: list | None = None  # output not released yet: (event class, fields) or (samples, rate, text)
    state: AnswerState = AnswerState.GENERATING
    stopped: bool = False  # interrupted (barge-in, cancel) or discarded: nothing more is said
    enough: bool = False  # the sentence limit stopped the generation
    started: float = 0.0
    said: str = ""  # the answer as said, once generated
    recorded: bool = False  # already added to the conversation (a barge-in records what was said)
    pieces: list[_Piece] = field(default_factory=list)
    _synthesis: list[Job] = field(default_factory=list)
    # The first piece is being synthesised and generation waits for it (tts.first_chunk_solo): read by the
    # generation's thread at every token, set and cleared on the scheduler's.
    _first_piece_solo: bool = False

    def start(self) -> None:
        config = self.ctx.config
        self.started = self.ctx.clock.now()
        self.held = [] if self.speculative else None
        self._chunker = SentenceChunker(config.tts.first_chunk_words)
        self._unsaid = self.request.prefix  # the forced start is spoken with the first generated token
        self._out(ev.AnswerStarted, mode=self.ctx.mode, speculative=self.speculative, forced_start=self.request.prefix)
        post, clock = self.ctx.inbox.post, self.ctx.clock

        def generate(job: Job):
            def on_text(delta: str) -> None:
                post(lambda: self._on_text(delta))
                clock.wait_for(lambda: not self._first_piece_solo or job.stop.is_set())

            return self.ctx.model.generate(
                self.request.messages, config.answer.max_new_tokens, prefix=self.request.prefix,
                first_word_choices=self.request.choices, banned_first_words=prompts.NOT_AN_ANSWER_START,
                stop_when_answered=config.answer.stop_when_answered,
                repetition_penalty=config.answer.repetition_penalty, stoppable_prefill=self.speculative,
                on_text=on_text, stop=job.stop)

        self._generation = self.ctx.llm_lane.submit(Job("answer", generate, self._generated))

    # -- from the lanes --------------------------------------------------------------------------------
    def _on_text(self, delta: str) -> None:
        if self.stopped or self.enough:
            return
        delta, self._unsaid = self._unsaid + delta, ""
        self._out(ev.AnswerDelta, text=delta)
        for piece in self._chunker.push(delta):
            self._say(piece)
            limit = self.request.max_sentences
            if limit and sum(p.text.rstrip().endswith((".", "!", "?")) for p in self.pieces) >= limit:
                self.enough = True
                self._generation.stop.set()  # a spoken answer stays short: stop generating here
                return

    def _generated(self, generation) -> None:
        if generation is None:  # dropped before it ran (the pipeline is shutting down)
            self.stopped = True
            generation = Generation("", 0, 0, "stop_flag")
        if self.enough:
            text = " ".join(p.text for p in self.pieces)
        elif self.stopped:
            text = " ".join(p.text for p in self.pieces if p.played)
        else:
            text = generation.text.strip()
        self._out(ev.AnswerDone, text=text, tokens=generation.tokens, prompt_tokens=generation.prompt_tokens,
                  hit_token_cap=generation.hit_token_cap, interrupted=self.stopped)
        if not self.stopped and not self.enough:
            for piece in self._chunker.flush():
                self._say(piece)
        self.said = text
        self.state = AnswerState.SPEAKING
        self._maybe_done()

    def _say(self, text: str) -> None:
        piece = _Piece(text)
        self.pieces.append(piece)
        self._out(ev.SentenceReady, text=text)
        tts, post = self.ctx.tts, self.ctx.inbox.post

        def synthesise(job: Job) -> None:
            for samples in tts.synthesize(text):
                if job.stop.is_set():
                    return
                post(lambda samples=samples: self._audio(piece, samples))

        job = Job("speak", synthesise)
        job.done = lambda _: self._spoken(job)
        self._synthesis.append(job)
        if len(self.pieces) == 1 and self.generating and self.ctx.config.tts.first_chunk_solo:
            # Generation waits (from its next token) while the first piece is synthesised: on a small CPU
            # the two share the cores, and the first audio is what the user waits for. The rest of the
            # answer still comes long before the first piece has been played.
            self._first_piece_solo = True
        self.ctx.tts_lane.submit(job)

    def _audio(self, piece: _Piece, samples: np.ndarray) -> None:
        if self.stopped:
            return
        piece.played = True
        if self.held is not None:
            self.held.append((samples, self.ctx.tts.sample_rate, piece.text))
        else:
            self.ctx.play(samples, self.ctx.tts.sample_rate, piece.text, self.turn)

    def _spoken(self, job: Job) -> None:
        self._synthesis.remove(job)
        self._let_generation_go()
        self._maybe_done()

    def _let_generation_go(self) -> None:
        if self._first_piece_solo:
            self._first_piece_solo = False
            self.ctx.clock.notify()

    def _maybe_done(self) -> None:
        if self.state is AnswerState.SPEAKING and not self._synthesis:
            self.state = AnswerState.DONE
            self.ctx.finished(self)

    # -- from the scheduler ----------------------------------------------------------------------------
    @property
    def generating(self) -> bool:
        return self.state is AnswerState.GENERATING

    @property
    def done(self) -> bool:
        return self.state is AnswerState.DONE

    def stop(self) -> None:
        """Barge-in, cancel or discard: generation and synthesis stop at their next check; nothing more
        of this answer is said."""
        self.stopped = True
        self._generation.stop.set()
        self._let_generation_go()
        mine = set(map(id, self._synthesis))
        self.ctx.tts_lane.cancel(keep=lambda job: id(job) not in mine)

    def release(self) -> None:
        """The end of the turn is confirmed: hand the held output on, in order, as if produced now."""
        held, self.held = self.held or [], None
        for item in held:
            if isinstance(item[0], type):
                self.ctx.emit(item[0], turn=self.turn, **item[1])
            else:
                self.ctx.play(*item, self.turn)

    def _out(self, cls, **fields) -> None:
        if self.held is not None:
            self.held.append((cls, fields))
        else:
            self.ctx.emit(cls, turn=self.turn, **fields)
