"""Wires the stages together and runs one compute lane over an audio stream.

Why one lane: Whisper, the language model and Piper each want both of a small machine's cores, so running
them in parallel only makes each slower. The loop therefore does one piece of model work at a time and,
between pieces, catches up with the audio that arrived meanwhile (the VAD is cheap and runs on every
frame). Time comes from the injected clock only, so the same code runs in real time, fast-forwarded
(compute time kept, idle waiting skipped) and under a virtual clock in tests.

Audio comes from a `FrameSource`: a whole file replayed on the clock (`run(samples)`), or live frames
from a microphone or a network client (`run_source`).

Barge-in: while the answer is generated and spoken, the lane keeps listening between tokens and between
audio chunks (the VAD is cheap). Speech heard then is a candidate; once it has lasted
`barge_in.min_speech_ms` it interrupts: the generation's stop flag is set, the sink's playback is
stopped, a BargeIn event is emitted and the new turn starts with the buffered audio (pre-roll included),
so the user's first words are not lost. Shorter sounds are ignored (BargeInIgnored). Playback is tracked
on the clock: answer audio written at time t plays until t + its duration, after what was queued.

The end of a turn, the silence the user sits through, is kept short. Model calls take a stop flag that
the model checks once per token; the pipeline's flag first takes in the audio that arrived (`_StopWatch`),
so the lane keeps listening while a model runs. With the preemptive schedule a note yields to recognition
and to the end-of-turn work; an end of turn detected meanwhile waits (`_deferred`) until the call has wound
down. When speech starts, the fixed start of the turn's prompts goes into the models' cache. In a pause that
may end the turn, once a recognition pass has heard all the speech, livemind starts the answer
speculatively (`answer.speculative`): its text and audio are held; the VAD's confirmation releases them
(mid-generation or after), resumed speech discards them. When the last pass heard all the speech, the
final pass is skipped: what is left is the trailing silence.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

import numpy as np

from voice_livemind import events as ev
from voice_livemind.asr import ASRBackend, StreamingASR
from voice_livemind.audio.source import ArraySource, AudioFrame, FrameSource
from voice_livemind.config import Config
from voice_livemind.conversation import Conversation
from voice_livemind.livemind import prompts
from voice_livemind.livemind.loop import LiveMindLoop
from voice_livemind.llm.base import ChatModel
from voice_livemind.tts.chunker import SentenceChunker
from voice_livemind.vad.endpointer import Boundary, Endpointer, sounds_unfinished


# livemind: notes while the user speaks, then the answer from them; baseline: the same pipeline without
# LiveMind, reasoning step by step after the end (the paper's baseline); direct: no LiveMind and no
# reasoning, the answer prompt alone (the fastest naive pipeline); transcribe: ASR only (benchmarks).
MODES = ("livemind", "baseline", "direct", "transcribe")


class TTS(Protocol):
    sample_rate: int

    def synthesize(self, text: str) -> Iterator[np.ndarray]: ...


class Sink(Protocol):
    """Where the answer's audio goes. A sink that plays audio also has `stop()`: drop what is queued
    (barge-in); the pipeline calls it when present."""

    def write(self, samples: np.ndarray, sample_rate: int) -> None: ...

    def close(self) -> None: ...


@dataclass
class _Candidate:
    """Speech heard while the assistant answers: a barge-in once it has lasted long enough."""

    audio_t: float  # where it started in the input
    frames: list[AudioFrame]  # its audio so far, the pre-roll included: the new turn's first audio
    run: int  # speech frames in the current run (gaps of up to MAX_GAP_FRAMES do not break it)
    longest: int = 0  # the longest run so far
    gap: int = 0  # non-speech frames since the last speech frame
    detected_audio_t: float | None = None  # set once confirmed as a barge-in

    MAX_GAP_FRAMES = 3  # ~90 ms: a VAD dropout inside a word, not a pause between two coughs

    def push(self, speech: bool) -> None:
        if speech:
            self.run, self.gap = (1 if self.gap > self.MAX_GAP_FRAMES else self.run + 1), 0
            self.longest = max(self.longest, self.run)
        else:
            self.gap += 1


class _StopWatch:
    """A model call's stop flag (it duck-types threading.Event). The model checks it once per token; each
    check first runs `poll`, which takes in the audio that arrived and may decide that the call must stop."""

    def __init__(self, poll: Callable[[], bool]):
        self._flag = threading.Event()
        self._poll = poll

    def set(self) -> None:
        self._flag.set()

    def is_set(self) -> bool:
        if not self._flag.is_set() and self._poll():
            self._flag.set()
        return self._flag.is_set()


@dataclass
class _Speculation:
    """An answer started in a pause, before the end of the turn was confirmed."""

    text: str  # the transcript it answers
    started: float  # clock time
    held: list = field(default_factory=list)  # ("event", cls, fields) / ("audio", samples, rate, text) not released
    state: str = "running"  # running -> ready (all generated, waiting) | confirmed | discarded
    compute_s: float = 0.0  # lane time it took (set when it stops running)
    said: str = ""  # the answer as it will be said, once ready


@dataclass
class Backends:
    is_speech: Callable[[np.ndarray], bool]
    asr: ASRBackend
    inference_model: ChatModel
    answer_model: ChatModel
    tts: TTS


def load_backends(config: Config, mode: str) -> Backends:
    """The real models; the answer model object is shared when both roles name the same model."""
    from voice_livemind.asr.whisper_backend import FasterWhisperBackend
    from voice_livemind.llm.transformers_backend import TransformersChatModel
    from voice_livemind.tts.piper_backend import PiperTTS
    from voice_livemind.vad.endpointer import WebRtcClassifier

    answer_model = TransformersChatModel(config.models.answer)
    if mode != "livemind" or config.models.inference == config.models.answer:
        inference_model = answer_model
    else:
        inference_model = TransformersChatModel(config.models.inference)
    return Backends(
        is_speech=WebRtcClassifier(config.vad.aggressiveness, config.vad.frame_ms),
        asr=FasterWhisperBackend(config.asr),
        inference_model=inference_model,
        answer_model=answer_model,
        tts=PiperTTS(config.tts),
    )


class Pipeline:
    def __init__(self, config: Config, backends: Backends, clock, sink: Sink, mode: str | None = None,
                 on_event: Callable[[ev.Event], None] | None = None):
        self.config = config
        self.mode = mode or config.mode
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}: use one of {', '.join(MODES)}")
        self.backends = backends
        self.clock = clock
        self.sink = sink
        self.on_event = on_event
        self.events: list[ev.Event] = []
        self.endpointer = Endpointer(config.vad, backends.is_speech)
        self.asr = StreamingASR(backends.asr, config.asr, config.audio.sample_rate)
        self.livemind = LiveMindLoop(backends.inference_model, config.livemind, config.answer.repetition_penalty)
        self.conversation = Conversation(config.conversation)
        self.turn = 0
        self._preroll: deque[AudioFrame] = deque(maxlen=max(1, config.vad.preroll_ms // config.vad.frame_ms))
        self._segments_seen: tuple[str, ...] = ()
        self.source: FrameSource | None = None
        self._inbox: deque[AudioFrame] = deque()  # frames taken from the source, not yet fed
        self._start_frames = max(1, math.ceil(config.vad.speech_start_ms / config.vad.frame_ms))
        self._barge_frames = max(1, math.ceil(config.barge_in.min_speech_ms / config.vad.frame_ms))
        self._candidate: _Candidate | None = None
        self._answering = False  # between the end of a turn and its TurnDone
        self._answer_stop: threading.Event | None = None  # the running generation's stop flag
        self._barged = False  # the running answer was interrupted
        self._playback_end = 0.0  # clock time at which the answer audio written so far has played
        self._cancel = threading.Event()
        self._defer_boundaries = False  # a model call of the turn is running: an end of turn waits for it
        self._deferred: Boundary | None = None
        self._speculation: _Speculation | None = None
        self._held: list | None = None  # answer output is held here while it is speculative
        self._warm_due = False  # the fixed start of this turn's prompts is not in the models' cache yet

    def cancel(self) -> None:
        """Stop now, from any thread: the running model call ends at its next token and `run` returns."""
        self._cancel.set()
        stop = self._answer_stop
        if stop is not None:
            stop.set()

    # -- events --------------------------------------------------------------------------------------
    def emit(self, cls, **fields) -> ev.Event:
        event = cls(t=self.clock.now(), turn=self.turn, **fields)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        return event

    # -- main loop -----------------------------------------------------------------------------------
    def run(self, samples: np.ndarray) -> list[ev.Event]:
        """Replay a whole 16 kHz signal as if it were arriving on the clock."""
        return self.run_source(ArraySource(samples, self.config.vad.frame_ms, self.config.audio.sample_rate))

    def run_source(self, source: FrameSource) -> list[ev.Event]:
        """Run until the source is exhausted (and the last turn answered) or `cancel` is called."""
        self.source = source
        try:
            while not self._cancel.is_set():
                self._catch_up()
                if source.exhausted and not self._inbox:
                    if self._candidate is not None:
                        self._end_input_during_candidate()
                    if self.endpointer.in_speech:  # input over while the user was still talking
                        self._handle_boundary(self.endpointer.end_of_input())
                        continue
                    break
                if self._do_one_piece_of_work():
                    continue
                source.wait(self.clock)
        finally:
            self.sink.close()
        return self.events

    def _catch_up(self) -> None:
        """Feed every frame that has fully arrived by now to the VAD (and to the ASR during speech)."""
        self._inbox.extend(self.source.ready(self.clock.now()))
        while self._inbox and not self._cancel.is_set() and self._deferred is None:
            self._feed(self._inbox.popleft())
        if (self._defer_boundaries and self._deferred is None and self.source.exhausted and not self._inbox
                and self.endpointer.in_speech and self._candidate is None):
            self._deferred = self.endpointer.end_of_input()  # the input ran out during a call of the turn

    def _feed(self, frame: AudioFrame) -> None:
        candidate = self._candidate
        if candidate is not None and candidate.detected_audio_t is None and not self._speaking():
            self._start_candidate_turn()  # the answer ended meanwhile: an ordinary new turn
            candidate = None
        in_turn = self.endpointer.in_speech and candidate is None
        if in_turn:
            self.asr.append(frame.samples)
        elif candidate is not None:
            candidate.frames.append(frame)
        else:
            self._preroll.append(frame)
        mute = self.config.barge_in.suppress_while_playing and not in_turn and self._playing()
        boundary = self.endpointer.push(frame.t, frame.samples, mute=mute)
        if candidate is not None:
            candidate.push(self.endpointer.last_speech)
        if in_turn and self.endpointer.last_speech and self._speculation is not None:
            self._drop_speculation("speech")  # the user goes on: the pause did not end the turn
        if boundary is not None:
            if self._defer_boundaries and boundary.kind == "end":
                self._deferred = boundary  # handled once the running call has wound down
            else:
                self._handle_boundary(boundary)
        candidate = self._candidate
        if candidate is not None and candidate.detected_audio_t is None and candidate.run >= self._barge_frames:
            self._barge_in(frame.t + frame.duration)

    def _handle_boundary(self, boundary: Boundary) -> None:
        if boundary.kind == "start":
            frames = list(self._preroll)
            self._preroll.clear()
            if self.config.barge_in.enabled and self._speaking():
                self._candidate = _Candidate(boundary.audio_t, frames, run=self._start_frames,
                                             longest=self._start_frames)
            else:
                self._start_turn(boundary.audio_t, frames)
            return
        candidate = self._candidate
        if candidate is not None:
            if candidate.detected_audio_t is None:  # too short to interrupt: a cough, a click, an echo
                self._candidate = None
                self._preroll.extend(candidate.frames)
                self.emit(ev.BargeInIgnored, audio_t=candidate.audio_t,
                          speech_s=round(candidate.longest * self.config.vad.frame_ms / 1000, 3))
                return
            self._start_candidate_turn()
        self.emit(ev.SpeechEnded, audio_t=boundary.audio_t, reason=boundary.reason)
        self._answer(boundary.audio_t)

    def _start_turn(self, audio_t: float, frames: list[AudioFrame]) -> None:
        self.turn += 1
        self.asr.reset(frames[0].t if frames else audio_t)
        for frame in frames:
            self.asr.append(frame.samples)
        self.livemind.reset(self.conversation.messages())  # the notes belong to one turn, the history does not
        self._segments_seen = ()
        self._warm_due = self.mode != "transcribe"
        self.emit(ev.SpeechStarted, audio_t=audio_t)

    def _start_candidate_turn(self) -> None:
        candidate, self._candidate = self._candidate, None
        self._start_turn(candidate.audio_t, candidate.frames)

    def _end_input_during_candidate(self) -> None:
        """The input ended while a sound overlapped the answer, too short to interrupt it (a longer one
        has barged in already): it is ignored like any other short sound."""
        self.endpointer.end_of_input()
        self._handle_boundary(Boundary("end", self.endpointer.position, reason="end_of_input"))

    # -- barge-in ------------------------------------------------------------------------------------
    def _playing(self) -> bool:
        return self.clock.now() < self._playback_end - 1e-9

    def _speaking(self) -> bool:
        """The assistant is answering: generating, synthesising or still playing audio."""
        return self._answering or self._playing()

    def _barge_in(self, detected_audio_t: float) -> None:
        candidate = self._candidate
        candidate.detected_audio_t = detected_audio_t
        generating = self._answering
        if generating:
            self._barged = True
            if self._answer_stop is not None:
                self._answer_stop.set()  # reaches the model: generation ends at its next token
        playing = self._playing()
        if playing:
            stop = getattr(self.sink, "stop", None)
            if stop is not None:
                stop()
            self._playback_end = self.clock.now()
        self.emit(ev.BargeIn, audio_t=candidate.audio_t, detected_audio_t=detected_audio_t,
                  generation_stopped=generating, playback_stopped=playing)
        if not generating:
            self._start_candidate_turn()  # else the answer winds down first, then `_answer` starts it

    def _poll(self) -> bool:
        """Between tokens and audio chunks of an answer: take in the audio that arrived, which may barge in,
        confirm a speculative answer or discard it. True when the answer must stop."""
        spec = self._speculation
        if spec is not None and spec.state == "running":
            self._catch_up()  # speech sets spec.state to discarded
            if self._deferred is not None and spec.state == "running":
                self._confirm_running_speculation()
        elif self.config.barge_in.enabled and not self._interrupted():
            self._catch_up()
        return self._interrupted()

    def _interrupted(self) -> bool:
        discarded = self._speculation is not None and self._speculation.state == "discarded"
        return self._barged or self._cancel.is_set() or discarded

    def _do_one_piece_of_work(self) -> bool:
        """While the user speaks, one piece of model work, in this order of priority: a recognition pass when
        due; the prompts' fixed start into the cache once per turn; a speculative answer in a pause that may
        end the turn; one LiveMind inference call."""
        if not self.endpointer.in_speech or self._candidate is not None:
            return False
        if self._asr_due():
            started = self.clock.now()
            transcript = self.asr.step()
            self.emit(ev.TranscriptUpdate, stable=transcript.stable, unstable=transcript.unstable,
                      compute_s=self.clock.now() - started)
            self.endpointer.observe_transcript(f"{transcript.stable} {transcript.unstable}")
            if self.mode == "livemind":
                self._observe(transcript.stable)
            return True
        if self._warm_due:
            self._warm()
            return True
        if self._speculation is not None:
            return False  # a prepared answer waits for the VAD: a note now would only delay its release
        if self._speculation_due():
            self._speculate()
            return True
        if self.mode == "livemind" and self.livemind.pending():
            self._write_note()
            return True
        return False

    def _asr_due(self) -> bool:
        """A pass every `interval_s` of new audio while speech is heard. In a pause only a pass that hears
        speech not heard yet, when due or once the pause lasted `pause_pass_ms`: its text serves the end
        decision, the transcript hold and a speculative answer, and it makes the final pass unnecessary."""
        pause = self.endpointer.pause_s
        if pause == 0.0:
            return self.asr.due()
        if not self._speech_unheard():
            return False
        return self.asr.due() or pause >= self.config.asr.pause_pass_ms / 1000

    def _warm(self) -> None:
        """While the user speaks, put the fixed start of this turn's prompts (system prompt + conversation)
        into the models' key/value cache, so the end of the turn prefills only what the user said. Every
        mode does this: it is not LiveMind, any pipeline can."""
        self._warm_due = False
        system = self.config.livemind.prompts
        if self.mode == "livemind":
            start = self.livemind.prompt_start()  # the answer prompt of the single layout differs: not warmed
        else:
            start = self.conversation.with_history([{"role": "system", "content": system.baseline_system
                                                     if self.mode == "baseline" else system.answer_system}])
        models = (self.backends.answer_model, self.backends.inference_model) if self.mode == "livemind" \
            else (self.backends.answer_model,)
        for model in {id(m): m for m in models}.values():
            model.prefill(start)

    def _speech_unheard(self) -> bool:
        """Some of the speech heard by the VAD has not been through a recognition pass yet."""
        return self.asr.heard_until < self.endpointer.speech_end - 1e-6

    def _write_note(self) -> None:
        """One LiveMind inference call. Preemptive schedule: it listens between tokens and yields when the
        end-of-turn work or a recognition pass is due (it resumes in a later call); an end of turn detected
        meanwhile is handled once it has wound down."""
        preemptive = self.config.livemind.schedule == "preemptive"
        stop = _StopWatch(self._note_must_yield) if preemptive else self._cancel
        started = self.clock.now()
        self._defer_boundaries = preemptive
        try:
            result = self.livemind.step(stop=stop)
        finally:
            self._defer_boundaries = False
        compute_s = self.clock.now() - started
        if result.yielded:
            self.emit(ev.NoteYielded, segments=result.segments, partial=result.generation.text, compute_s=compute_s)
        else:
            self.emit(ev.Note, action=result.action.name, text=result.action.content, segments=result.segments,
                      compute_s=compute_s, parsed=result.action.parsed)
        if self._deferred is not None:
            boundary, self._deferred = self._deferred, None
            self._handle_boundary(boundary)

    def _note_must_yield(self) -> bool:
        """Preemptive schedule, once per token: the end of the turn, a pause that may end it, or
        recognition falling behind (`livemind.asr_backlog_s`) come first."""
        self._catch_up()
        if self._cancel.is_set() or self._deferred is not None:
            return True
        backlog = self.config.livemind.asr_backlog_s
        if backlog > 0 and self.endpointer.in_speech and self.asr.pending_s >= backlog:
            return True
        return self.endpointer.pause_s > 0 and (self._asr_due() or self._speculation_due())

    # -- speculative answer --------------------------------------------------------------------------
    def _speculation_due(self) -> bool:
        """livemind: a pause of `pause_pass_ms` or more, every word heard by a pass, and a transcript that
        sounds finished (a trailing "and" or comma promises more)."""
        if self.mode != "livemind" or not self.config.answer.speculative or self._speculation is not None:
            return False
        if self.endpointer.pause_s < self.config.asr.pause_pass_ms / 1000 or self._speech_unheard():
            return False
        text = self.asr.final_text()
        return bool(text.strip()) and not sounds_unfinished(text)

    def _speculate(self) -> None:
        spec = self._speculation = _Speculation(self.asr.final_text(), self.clock.now())
        self.emit(ev.SpeculationStarted, text=spec.text)
        self._held = spec.held
        self._defer_boundaries = True
        try:
            said = self._respond(spec.text, speculative=True)
        finally:
            self._defer_boundaries, self._held = False, None
        if spec.state == "running" and self._deferred is not None:
            self._confirm_running_speculation(complete=True)  # confirmed as it finished
        if spec.state == "running":  # all of it is ready before the end was confirmed: it waits
            spec.state, spec.said, spec.compute_s = "ready", said, self.clock.now() - spec.started
        elif spec.state == "discarded":
            self._speculation = None
            self.emit(ev.SpeculationDiscarded, reason="speech", compute_s=round(self.clock.now() - spec.started, 4))
        else:  # confirmed while it was generated: it went on as the answer of the turn
            self._speculation = None
            self._end_answer(spec.text, said)

    def _confirm_running_speculation(self, complete: bool = False) -> None:
        """The VAD confirmed the end while the speculative answer was being generated: no pass ran since it
        started and only silence came, so its transcript is the final one. It goes on as the answer."""
        spec = self._speculation
        boundary, self._deferred = self._deferred, None
        self._defer_boundaries = False
        self.emit(ev.SpeechEnded, audio_t=boundary.audio_t, reason=boundary.reason)
        transcript = self.asr.finish(hear_rest=False)
        self.emit(ev.TranscriptUpdate, stable=transcript.stable, unstable="", final=True, compute_s=0.0)
        spec.state = "confirmed"
        self.emit(ev.SpeculationUsed, compute_s=round(self.clock.now() - spec.started, 4), complete=complete)
        self._answering, self._barged = True, False
        self._release(spec)

    def _drop_speculation(self, reason: str) -> None:
        spec = self._speculation
        if spec.state == "running":
            spec.state = "discarded"  # the generation stops at its next token; `_speculate` reports it
        elif spec.state == "ready":
            self._speculation = None
            self.emit(ev.SpeculationDiscarded, reason=reason, compute_s=round(spec.compute_s, 4))

    def _release(self, spec: _Speculation) -> None:
        """Hand the held answer output on, in order, as if it were produced now."""
        self._held = None
        for item in spec.held:
            if item[0] == "event":
                self.emit(item[1], **item[2])
            else:
                self._play(*item[1:])
        spec.held.clear()

    def _observe(self, stable: str) -> None:
        dropped = self.livemind.observe(stable)
        if dropped:
            self.emit(ev.MemoryTruncated, kept=len(self.livemind.memory.entries), dropped=dropped)
        segments = tuple(self.livemind.segments)
        if segments != self._segments_seen:
            self._segments_seen = segments
            self.emit(ev.SegmentsClosed, segments=segments)

    # -- end of utterance ----------------------------------------------------------------------------
    def _answer(self, speech_end: float) -> None:
        self._answering, self._barged = True, False
        try:
            self._answer_turn(speech_end)
        finally:
            self._answering, self._answer_stop = False, None
        self._start_barge_in_turn()

    def _start_barge_in_turn(self) -> None:
        if self._candidate is not None and self._candidate.detected_audio_t is not None:
            self._start_candidate_turn()  # the barge-in that interrupted the answer is the next turn

    def _turn_done(self, text: str, said: str) -> None:
        self.conversation.add(text, said)
        self.emit(ev.TurnDone)

    def _end_answer(self, text: str, said: str) -> None:
        """A confirmed speculation's answer is over (`_answer` ends the others)."""
        self._turn_done(text, said)
        self._answering, self._answer_stop = False, None
        self._start_barge_in_turn()

    def _answer_turn(self, speech_end: float) -> None:
        started = self.clock.now()
        spec, self._speculation = self._speculation, None
        # A pass that heard up to the end of speech leaves only trailing silence: no final pass.
        transcript = self.asr.finish(hear_rest=self.asr.heard_until < speech_end - 1e-6)
        self.emit(ev.TranscriptUpdate, stable=transcript.stable, unstable="", final=True,
                  compute_s=self.clock.now() - started)
        if spec is not None:
            if transcript.stable == spec.text:
                self.emit(ev.SpeculationUsed, compute_s=round(spec.compute_s, 4), complete=True)
                self._release(spec)
                self._turn_done(spec.text, spec.said)
                return
            self._speculation = spec
            self._drop_speculation("transcript")
        if not transcript.stable.strip() or self.mode == "transcribe":
            self.emit(ev.TurnDone)  # speech-like noise with no words, or ASR only: nothing to answer
            return
        self._turn_done(transcript.stable, self._respond(transcript.stable))

    def _respond(self, text: str, speculative: bool = False) -> str:
        """Generate and speak the answer to `text` in this pipeline's mode; returns what was said."""
        system = self.config.livemind.prompts
        prefix, choices = prompts.answer_start(text, self.config.answer.choice_prefix)
        if self.mode == "livemind":
            messages = self.livemind.answer_messages(text)  # the history is in it, where the notes had it
        else:  # baseline: reasoning first, no forced start; direct: the answer prompt without notes
            reasoning = self.mode == "baseline"
            messages = self.conversation.with_history(
                prompts.baseline_messages(system.baseline_system if reasoning else system.answer_system, text))
            if reasoning:
                prefix, choices = "", ()
        # The reasoning baseline speaks all it generates; the answer-first modes say a short answer.
        return self._speak_answer(messages, prefix, choices, speculative,
                                  max_sentences=0 if self.mode == "baseline" else self.config.answer.max_sentences)

    def _speak_answer(self, messages, prefix: str, choices: tuple[str, ...], speculative: bool = False,
                      max_sentences: int = 0) -> str:
        """Stream the answer into TTS sentence by sentence; at most `max_sentences` are said (0: no limit).
        Returns the answer as said (cut where a barge-in or the sentence limit stopped it)."""
        model = self.backends.answer_model
        chunker = SentenceChunker(self.config.tts.first_chunk_words)
        self._emit_answer(ev.AnswerStarted, mode=self.mode, speculative=speculative)
        unsaid = [prefix]  # a forced start of the reply is spoken with the first generated token
        said: list[str] = []
        stop = self._answer_stop = _StopWatch(self._poll)  # listens once per token
        if self._cancel.is_set():
            stop.set()
        enough = [False]

        def on_text(delta: str) -> None:
            if stop.is_set():  # a barge-in, or the user going on after a speculative start
                return
            delta, unsaid[:] = unsaid[0] + delta, [""]
            self._emit_answer(ev.AnswerDelta, text=delta)
            for piece in chunker.push(delta):
                if self._say(piece):
                    said.append(piece)
                if self._interrupted():
                    return
                if max_sentences and sum(p.rstrip().endswith((".", "!", "?")) for p in said) >= max_sentences:
                    enough[0] = True
                    stop.set()  # a spoken answer stays short: stop generating here
                    return

        generation = model.generate(messages, self.config.answer.max_new_tokens, prefix=prefix,
                                    first_word_choices=choices, on_text=on_text, stop=stop,
                                    banned_first_words=prompts.NOT_AN_ANSWER_START,
                                    stop_when_answered=self.config.answer.stop_when_answered,
                                    repetition_penalty=self.config.answer.repetition_penalty,
                                    stoppable_prefill=speculative)
        interrupted = self._interrupted()
        text = " ".join(said) if enough[0] or interrupted else generation.text.strip()
        self._emit_answer(ev.AnswerDone, text=text, tokens=generation.tokens, prompt_tokens=generation.prompt_tokens,
                          hit_token_cap=generation.hit_token_cap, interrupted=interrupted)
        if not stop.is_set():
            for piece in chunker.flush():
                if self._say(piece):
                    said.append(piece)
        return text

    def _say(self, sentence: str) -> bool:
        """Synthesise one piece and hand it to the sink; False when nothing was played (interrupted)."""
        if self._interrupted():
            return False
        self._emit_answer(ev.SentenceReady, text=sentence)
        tts = self.backends.tts
        played = False
        for samples in tts.synthesize(sentence):
            if self._interrupted():
                break  # a barge-in during synthesis: this audio is never played
            self._play(samples, tts.sample_rate, sentence)
            played = True
            self._poll()
        return played

    def _play(self, samples: np.ndarray, sample_rate: int, text: str) -> None:
        if self._held is not None:  # speculative: played once the end of the turn is confirmed
            self._held.append(("audio", samples, sample_rate, text))
            return
        self.sink.write(samples, sample_rate)
        start = max(self.clock.now(), self._playback_end)
        self._playback_end = start + samples.shape[0] / sample_rate
        self.emit(ev.TTSAudio, samples=samples, sample_rate=sample_rate, text=text)

    def _emit_answer(self, cls, **fields) -> None:
        if self._held is not None:
            self._held.append(("event", cls, fields))
        else:
            self.emit(cls, **fields)
