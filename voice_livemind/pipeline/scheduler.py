"""The scheduler: one thread that owns the pipeline's state, the turn and the clock, and the compute lanes.

Lanes (each a worker thread, see lanes.py): `asr` runs recognition passes, `notes` the language model while
the user speaks (the prompts' fixed start, LiveMind notes), `answer` the same model for the answer (never at
the same time as `notes`), `tts` speech synthesis. While the user speaks, recognition and notes run at the
same time; after the turn, synthesis of one sentence overlaps generation of the next (but the first piece
is synthesised alone, `tts.first_chunk_solo`: the first audio is what the user waits for).

The scheduler's loop: take the audio frames that have arrived (VAD, endpointing, the recognition buffer,
barge-in), handle what the lanes sent back (transcripts, notes, answer text and audio), give idle lanes
their next job, and wait on the clock for the next frame or message. Data flows one way: jobs get their
inputs when submitted and return results as messages; only this thread changes state or emits events.

A turn: IDLE -> LISTENING (speech started) -> ENDING (the VAD decided the end; the final transcript is being
made) -> ANSWERING (the answer is generated and spoken) -> IDLE. With the preemptive schedule a running note
is stopped (it yields, and resumes from its partial reply if the user goes on) when the turn ends or when a
speculative answer is due: in a pause that may end the turn, once a recognition pass has heard all the
speech, livemind starts the answer with its output held; the VAD's confirmation releases it, resumed
speech discards it.

Barge-in: speech heard while the assistant answers is a candidate; once it has lasted
`barge_in.min_speech_ms` the answer is stopped (generation and synthesis at their next check, the sink's
playback at once), a BargeIn event is emitted and the new turn starts with the candidate's audio.
"""

from __future__ import annotations

import enum
import logging
import threading
from typing import Callable

import numpy as np

from voice_livemind import events as ev
from voice_livemind.asr.streaming import Transcript
from voice_livemind.asr.words import words_of
from voice_livemind.audio.guard import BadStretch, InputGuard
from voice_livemind.audio.source import ArraySource, AudioFrame, FrameSource
from voice_livemind.config import Config
from voice_livemind.conversation import Conversation
from voice_livemind.modes import Mode
from voice_livemind.pipeline.answer import Answer, AnswerContext, answer_request
from voice_livemind.pipeline.backends import Backends, Sink
from voice_livemind.pipeline.barge_in import Candidate
from voice_livemind.pipeline.lanes import Inbox, Job, Lane
from voice_livemind.pipeline.recognition import Recognition
from voice_livemind.pipeline.speaking import Speaking
from voice_livemind.pipeline.speculation import Speculation
from voice_livemind.pipeline.thinking import Thinking
from voice_livemind.pipeline.turn_taking import Decided, Decision, TurnTaking
from voice_livemind.vad.endpointer import Boundary, Endpointer

log = logging.getLogger(__name__)


class TurnState(enum.Enum):
    IDLE = "idle"  # no turn: waiting for speech
    LISTENING = "listening"  # the user speaks (pauses included)
    ENDING = "ending"  # the end was decided: the final transcript is being made
    ANSWERING = "answering"  # the answer is generated and spoken


class Pipeline:
    def __init__(self, config: Config, backends: Backends, clock, sink: Sink, mode: str | None = None,
                 on_event: Callable[[ev.Event], None] | None = None, keep_turns: int = 0):
        self.config = config
        self.mode = Mode.parse(mode or config.mode)
        self.backends = backends
        self.clock = clock
        self.sink = sink
        self.on_event = on_event
        self.events = ev.EventLog(keep_turns)
        # With an end-of-turn model loaded (and vad.end_model naming it) a short pause that sounds finished
        # ends the turn; without one, silence alone does (vad.hangover_ms).
        self.end_model = backends.end_of_turn if config.vad.end_model != "none" else None
        self.endpointer = Endpointer(config.vad, backends.is_speech, end_model=self.end_model is not None)
        self._words_at = 0.0  # input time up to which the last pass that heard new words had heard
        self._words: tuple[str, ...] = ()  # the words of the turn's latest hypothesis
        self._resumable = False  # the end model ended this turn: speech before its answer is heard resumes it
        self._said_turn = 0  # the last turn whose answer was heard (audio played)
        self._abandoned: set[int] = set()  # answers dropped by a resumed turn (id): they report no TurnDone
        # The resume window (vad.resume_window_ms): a resumable turn's answer audio waits here until the
        # window after the speech has passed in silence; the answer's end waits with it.
        self._window_until = 0.0
        self._windowed: list[tuple[np.ndarray, int, str, int]] = []
        self._finished_in_window: Answer | None = None
        self.conversation = Conversation(config.conversation)
        self.turn = 0
        self.state = TurnState.IDLE
        self.turn_taking = TurnTaking(config, self.endpointer)
        self.input_guard = InputGuard(config.audio.sample_rate)  # NaN / inf samples -> silence, reported
        self._cancel = threading.Event()
        self._answer: Answer | None = None  # the answer being generated or spoken
        self._answer_due: str | None = None  # the transcript to answer once the model's lane is free
        self._ending_since = 0.0
        self.speaking = Speaking(sink, clock)
        self._inbox = Inbox(clock)
        self.lanes: dict[str, Lane] = {}

    def cancel(self) -> None:
        """Stop now, from any thread: running model calls end at their next token and `run` returns."""
        self._cancel.set()
        for lane in list(self.lanes.values()):
            lane.cancel()
        self.clock.notify()

    def emit(self, cls, turn: int | None = None, **fields) -> ev.Event:
        event = cls(t=self.clock.now(), turn=self.turn if turn is None else turn, **fields)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        return event

    # -- the loop --------------------------------------------------------------------------------------
    def run(self, samples: np.ndarray) -> list[ev.Event]:
        """Replay a whole 16 kHz signal as if it were arriving on the clock."""
        return self.run_source(ArraySource(samples, self.config.vad.frame_ms, self.config.audio.sample_rate))

    def run_source(self, source: FrameSource) -> list[ev.Event]:
        """Run until the source is exhausted and the last turn answered, or `cancel` is called."""
        self.clock.enter()
        try:
            # The notes may run at a lower OS priority (livemind.notes_nice). Notes and answers share the
            # model on two lanes that never run at once (see _schedule).
            nice = {"notes": self.config.livemind.notes_nice}
            self.lanes = {name: Lane(name, self.clock, self._inbox, nice.get(name, 0))
                          for name in ("asr", "notes", "answer", "tts", "turn")}
            self.recognition = Recognition(self.config, self.backends.asr, self.lanes["asr"], self.clock,
                                           self.endpointer)
            self.speculation = Speculation(self.mode is not Mode.TRANSCRIBE and self.config.answer.speculative,
                                           self.config.asr.pause_pass_ms / 1000, self.recognition,
                                           self._new_answer, self.emit, self.clock)
            self.thinking = Thinking(self.config, self.mode, self.backends, self.lanes["notes"], self.clock, self.emit)
            while not self._cancel.is_set():
                for frame in source.ready(self.clock.now()):
                    frame, stretch = self.input_guard.clean(frame)
                    self._report_bad_samples(stretch)
                    self._feed(frame)
                if source.exhausted:
                    self._report_bad_samples(self.input_guard.flush())
                for message in self._inbox.take():
                    message()
                if source.exhausted and self.endpointer.in_speech:  # the input ended while someone spoke
                    self._act(self.turn_taking.end_of_input(self._speaking()))
                self._schedule()
                if source.exhausted and self._all_done():
                    break
                self.clock.wait_for(lambda: bool(self._inbox) or self._cancel.is_set() or source.waiting(),
                                    self._wake_at(source))
        finally:
            for lane in self.lanes.values():
                lane.close()
            self.clock.leave()
            for lane in self.lanes.values():
                lane.join()
            self.sink.close()
        return self.events.all()

    def _wake_at(self, source: FrameSource) -> float:
        """When the loop must look again even if no message comes: the next frame, or the end of playback
        when something waits for the assistant to fall silent."""
        wake = source.next_arrival()
        if self._windowed and self._window_until > self.clock.now():
            wake = min(wake, self._window_until)  # the window ends: the answer is heard
        if (self.turn_taking.queued is not None or self.turn_taking.candidate is not None) and self.speaking.playing:
            wake = min(wake, self.speaking.playback_end)
        return wake

    def _all_done(self) -> bool:
        return (self.state is TurnState.IDLE and self.turn_taking.candidate is None
                and self.turn_taking.queued is None and not self._inbox
                and all(lane.idle for lane in self.lanes.values()))

    def _schedule(self) -> None:
        """Give the idle lanes their next job, in order of priority."""
        asr = self.lanes["asr"]
        model_free = self.lanes["notes"].idle and self.lanes["answer"].idle  # one call of the model at a time
        if self.turn_taking.queued is not None and self.state is TurnState.IDLE and not self.speaking.playing:
            self._act(self.turn_taking.release_queued())  # the utterance said over the answer
        if self.state is TurnState.IDLE and self.turn == 0 and model_free and self.thinking.warm_due:
            self.thinking.next_job()  # before the first turn: the prompts' fixed start, while nobody speaks
        if self.state is TurnState.LISTENING:
            if asr.idle and self.recognition.due():
                self.recognition.run_pass(self._on_pass)
            if self.speculation.due():
                if model_free:
                    self.speculation.start()
                else:
                    self.thinking.yield_note()  # the note yields to the answer that may end the turn
            elif self._pause_needs_a_pass():
                self.thinking.yield_note()  # the pass that may hear the end of the turn gets both cores
            elif model_free and self.speculation.answer is None:
                self.thinking.next_job()
        if self.state is TurnState.ENDING and asr.idle:
            if self.recognition.speech_unheard():
                self.recognition.run_pass(self._on_pass, ending=True)  # the final pass: the last words were not heard yet
            else:
                self._final_transcript()
        if self._windowed:
            self._close_resume_window()
        if self.state is TurnState.ANSWERING and self._answer_due is not None and model_free:
            text, self._answer_due = self._answer_due, None
            self._answer = self._new_answer(text, speculative=False)
            self._answer.start()

    # -- listening -------------------------------------------------------------------------------------
    def _report_bad_samples(self, stretch: BadStretch | None) -> None:
        if stretch is None:
            return
        log.warning("%d non-finite audio samples (NaN or inf) at %.2f-%.2f s of the input were replaced by "
                    "silence", stretch.samples, stretch.start, stretch.end)
        self.emit(ev.NonFiniteSamples, audio_t=stretch.start, end_audio_t=stretch.end, samples=stretch.samples)

    def _feed(self, frame: AudioFrame) -> None:
        decided, speech_in_turn = self.turn_taking.feed(frame, self._speaking(), self.speaking.playing,
                                                        self.recognition.asr.append)
        if speech_in_turn and self.speculation.answer is not None:
            self.speculation.discard("speech")  # the user goes on: the pause did not end the turn
        self._act(decided)
        if self.state is TurnState.LISTENING:
            self.thinking.pause(self.endpointer.pause_s, self.endpointer.speech_end)
        asked = self.turn_taking.question()
        if asked is not None:
            self._ask_end_model(*asked)

    def _ask_end_model(self, question, audio: np.ndarray) -> None:
        """Does the pause sound like the end of the turn? The end-of-turn model (smart-turn, ~50 ms on one
        core) runs as a job on its own lane, "turn", like every other model: the scheduler keeps feeding
        frames meanwhile (the pause goes on and may reach max_silence_ms), the fast-forward clock counts the
        call as work (no time is skipped while it runs) and a fake's cost is slept on the virtual clock, so
        tests stay exact. Inline on this thread it would stall every frame, barge-in included, for its
        duration. Its own lane, not the recognition lane: a pass there may run for a second."""
        model = self.end_model

        def done(p_complete) -> None:
            if p_complete is None:
                return  # dropped unrun (the run is closing)
            decided = self.turn_taking.verdict(question, p_complete, self._speaking())
            self.emit(ev.EndOfTurnChecked, audio_t=question.audio_t, p_complete=round(p_complete, 4),
                      ended=bool(decided), compute_s=round(self.clock.now() - job.started, 4))
            self._act(decided)

        job = self.lanes["turn"].submit(Job("end_of_turn", lambda job: model(audio), done))

    def _act(self, decided: list[Decided]) -> None:
        for d in decided:
            if d.decision is Decision.START_TURN:
                self._start_turn(d.audio_t, d.frames)
            elif d.decision is Decision.END_TURN:
                self._end_turn(d.boundary)
            elif d.decision is Decision.BARGE_IN:
                self._barge_in(d.candidate)
            else:
                self.emit(ev.BargeInIgnored, audio_t=d.audio_t, speech_s=self.turn_taking.speech_s(d.candidate))

    def _start_turn(self, audio_t: float, frames: list[AudioFrame]) -> None:
        self.turn += 1
        self.state = TurnState.LISTENING
        self.recognition.start_turn(self.turn, frames[0].t if frames else audio_t, [f.samples for f in frames])
        self._words_at, self._words = audio_t, ()
        self.thinking.start_turn(self.turn, self.conversation.messages())
        self.emit(ev.SpeechStarted, audio_t=audio_t)

    def _end_turn(self, boundary: Boundary) -> None:
        self.emit(ev.SpeechEnded, audio_t=boundary.audio_t, reason=boundary.reason,
                  detected_audio_t=self.endpointer.position)
        self.state, self._ending_since = TurnState.ENDING, self.clock.now()
        self._resumable = boundary.reason in ("end_model", "question") and self.config.vad.resume
        window = self.config.vad.resume_window_ms / 1000
        self._window_until = boundary.audio_t + window if self._resumable and window else 0.0
        self.thinking.yield_note()  # the note yields to the end of the turn

    def _on_pass(self, transcript: Transcript, heard_until: float, compute_s: float) -> None:
        if self.state is not TurnState.LISTENING:
            return  # the final pass (or one running when the turn ended): the final transcript follows
        self.emit(ev.TranscriptUpdate, stable=transcript.stable, unstable=transcript.unstable,
                  compute_s=compute_s, heard_until=heard_until, words=transcript.words)
        self.endpointer.observe_transcript(f"{transcript.stable} {transcript.unstable}")
        if self._no_words_for_too_long(f"{transcript.stable} {transcript.unstable}", heard_until):
            self._act(self.turn_taking.end_of_input(self._speaking(), reason="no_words"))
            return
        if self.mode is Mode.LIVEMIND:
            hypothesis = self.config.livemind.segments_from == "hypothesis"
            self.thinking.observe(f"{transcript.stable} {transcript.unstable}".strip() if hypothesis
                                  else transcript.stable, transcript.words + transcript.unstable_words, heard_until)

    def _final_transcript(self) -> None:
        transcript = self.recognition.final()
        self.emit(ev.TranscriptUpdate, stable=transcript.stable, unstable="", final=True,
                  compute_s=self.clock.now() - self._ending_since,
                  heard_until=self.recognition.asr.heard_until, words=transcript.words)
        spec = self.speculation.settle(transcript)
        if spec is not None:  # the answer started in the pause answers the turn: it goes on, said now
            self.state, self._answer = TurnState.ANSWERING, spec
            if spec.done:
                self._answer_finished(spec)
            return
        if not words_of(transcript.stable) or self.mode is Mode.TRANSCRIBE:
            self.state = TurnState.IDLE
            self.emit(ev.TurnDone)  # speech-like noise with no words, or ASR only: nothing to answer
            return
        self.state, self._answer_due = TurnState.ANSWERING, transcript.stable

    def _no_words_for_too_long(self, text: str, heard_until: float) -> bool:
        """Recognition has heard `vad.no_words_s` of the turn's audio without a new word: noise (or speech
        it cannot make out) that the VAD takes for speech, which would hold the turn open for as long as it
        lasts."""
        words = words_of(text)
        if words and words != self._words:
            self._words, self._words_at = words, heard_until
        limit = self.config.vad.no_words_s
        return limit > 0 and heard_until - self._words_at >= limit

    # -- answering -------------------------------------------------------------------------------------
    def _new_answer(self, text: str, speculative: bool) -> Answer:
        request = answer_request(self.config, self.mode, text, self.thinking.loop, self.conversation.messages())
        context = AnswerContext(self.config, self.mode.value, self.backends.answer_model, self.backends.tts,
                                self.lanes["answer"], self.lanes["tts"], self._inbox, self.emit, self._play,
                                self._answer_finished, self.clock)
        return Answer(context, self.turn, text, request, speculative=speculative)

    def _pause_needs_a_pass(self) -> bool:
        """A pause that may end the turn, with speech no pass has heard yet: the final transcript waits for
        that pass, so a note (which shares the cores with it) waits too (preemptive schedule)."""
        return (self.endpointer.pause_s >= self.config.asr.pause_pass_ms / 1000
                and self.recognition.speech_unheard() and self.thinking.preemptive)

    def _answer_finished(self, answer: Answer) -> None:
        if answer.held is not None:
            return  # a speculative answer, all of it ready: it waits for the end of the turn (or is discarded)
        if self._windowed and answer is self._answer:
            self._finished_in_window = answer  # all of it ready, none of it heard yet: the turn may resume
            return
        if id(answer) in self._abandoned:
            self._abandoned.discard(id(answer))
            return  # its turn was resumed: that turn goes on and will be answered anew
        if answer is self._answer:
            self._answer = None
            self.state = TurnState.IDLE
        if not answer.recorded:
            self.conversation.add(answer.text, answer.said)
        self.emit(ev.TurnDone, turn=answer.turn)

    # -- speaking and barge-in -------------------------------------------------------------------------
    def _resume(self, candidate: Candidate) -> bool:
        """The end model ended the turn in a pause that sounded finished, and the user goes on before any
        of the answer was heard: the same turn continues (its audio, transcript and notes), the answer
        under way is dropped, and the turn is answered when it ends again. A false cut-off then costs
        compute, not the user's turn. Once answer audio has played, speech is a barge-in as before."""
        if not (self._resumable and self.state in (TurnState.ENDING, TurnState.ANSWERING)
                and self._said_turn < self.turn):
            return False
        asr = self.recognition.asr
        gap = self.turn_taking.frames_since(asr.buffer_t0 + asr.buffer_seconds)
        if gap is None:
            return False  # the audio since the end is no longer kept: a new turn
        answer, self._answer = self._answer, None
        if answer is not None:
            answer.stop()
            answer.recorded = True  # nothing was said: nothing goes into the conversation
            if not answer.done:
                self._abandoned.add(id(answer))
        if self.speculation.answer is not None:
            self.speculation.discard("speech")
        self._answer_due, self._resumable = None, False
        self._drop_resume_window()
        self.turn_taking.resumed()
        for frame in gap:
            asr.append(frame.samples)
        self.state = TurnState.LISTENING
        self.emit(ev.TurnResumed, audio_t=candidate.audio_t)
        return True

    def _play(self, samples: np.ndarray, sample_rate: int, text: str, turn: int) -> None:
        if self._window_until and turn == self.turn:
            if self._windowed or self._in_resume_window():
                self._windowed.append((samples, sample_rate, text, turn))
                return
            self._window_until = 0.0  # the answer is heard: the turn can no longer resume
        self._said_turn = max(self._said_turn, turn)
        self.speaking.play(samples, sample_rate)
        self.emit(ev.TTSAudio, turn=turn, samples=samples, sample_rate=sample_rate, text=text)

    def _in_resume_window(self) -> bool:
        """The user may still be going on: the window after the speech the end model ended has not passed,
        or speech has started since and is not yet long enough to resume the turn or to be ignored."""
        return self.clock.now() < self._window_until - 1e-9 or self.turn_taking.candidate is not None

    def _close_resume_window(self) -> None:
        """The window has passed in silence: the answer is heard, and ends if it had all been said."""
        if self._in_resume_window():
            return
        windowed, self._windowed = self._windowed, []
        for item in windowed:
            self._play(*item)
        finished, self._finished_in_window = self._finished_in_window, None
        if finished is not None:
            self._answer_finished(finished)

    def _drop_resume_window(self) -> None:
        """The user went on (the turn resumed, or a barge-in): what waited in the window is never heard."""
        self._window_until, self._windowed, self._finished_in_window = 0.0, [], None

    def _speaking(self) -> bool:
        """The assistant is answering (from the end of the turn on) or its audio is still playing."""
        return self.state in (TurnState.ENDING, TurnState.ANSWERING) or self.speaking.playing

    def _barge_in(self, candidate: Candidate) -> None:
        if self._resume(candidate):
            return
        answer, self._answer = self._answer, None
        generating = answer is not None and answer.generating
        if answer is not None:
            answer.stop()  # generation and synthesis end at their next check; the answer still reports
            answer.recorded = True
            self.conversation.add(answer.text, " ".join(p.text for p in answer.pieces if p.played))
        playing = self.speaking.stop()
        self._drop_resume_window()
        self.emit(ev.BargeIn, audio_t=candidate.audio_t, detected_audio_t=candidate.detected_audio_t,
                  generation_stopped=generating, playback_stopped=playing)
        if self.state is TurnState.ENDING or (self.state is TurnState.ANSWERING and answer is None):
            self.emit(ev.TurnDone)  # interrupted before its answer started: nothing was said
        self._answer_due = None
        self.state = TurnState.IDLE
        self._start_turn(candidate.audio_t, candidate.frames)
