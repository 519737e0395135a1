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
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
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
from voice_livemind.vad.endpointer import Boundary, Endpointer


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
        self._last_pass_s = 0.0  # compute time of the latest recognition pass
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
        while self._inbox and not self._cancel.is_set():
            self._feed(self._inbox.popleft())

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
        if boundary is not None:
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
        self._answer()

    def _start_turn(self, audio_t: float, frames: list[AudioFrame]) -> None:
        self.turn += 1
        self.asr.reset(frames[0].t if frames else audio_t)
        for frame in frames:
            self.asr.append(frame.samples)
        self.livemind.reset()  # the notes belong to one turn; the conversation history does not
        self._segments_seen = ()
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

    def _poll(self) -> None:
        """Between pieces of the answer: take in the audio that arrived, which may barge in."""
        if self.config.barge_in.enabled and not self._interrupted():
            self._catch_up()

    def _interrupted(self) -> bool:
        return self._barged or self._cancel.is_set()

    def _do_one_piece_of_work(self) -> bool:
        """While the user speaks: a recognition pass when due, else one LiveMind inference call."""
        if not self.endpointer.in_speech or self._candidate is not None:
            return False
        if self._asr_due():
            started = self.clock.now()
            transcript = self.asr.step()
            self._last_pass_s = self.clock.now() - started
            self.emit(ev.TranscriptUpdate, stable=transcript.stable, unstable=transcript.unstable,
                      compute_s=self._last_pass_s)
            self.endpointer.observe_transcript(f"{transcript.stable} {transcript.unstable}")
            if self.mode == "livemind":
                self._observe(transcript.stable)
            return True
        if self.mode == "livemind" and self.livemind.pending():
            started = self.clock.now()
            result = self.livemind.step(stop=self._cancel)
            self.emit(ev.Note, action=result.action.name, text=result.action.content, segments=result.segments,
                      compute_s=self.clock.now() - started, parsed=result.action.parsed)
            return True
        return False

    def _asr_due(self) -> bool:
        """A pass every `interval_s` of new audio while speech is heard. In a pause only a pass that hears
        speech not heard yet, when due or once the pause lasted `pause_pass_ms` (its text then serves the
        end decision and the transcript hold), and only if the last pass's cost fits in the hangover left:
        the lane is single, so a pass still running when the hangover runs out delays the end of the turn."""
        pause = self.endpointer.pause_s
        if pause == 0.0:
            return self.asr.due()
        if self.asr.pending_s <= pause + 1e-6 or self._last_pass_s > self.endpointer.hangover_left_s:
            return False
        return self.asr.due() or pause >= self.config.asr.pause_pass_ms / 1000

    def _observe(self, stable: str) -> None:
        dropped = self.livemind.observe(stable)
        if dropped:
            self.emit(ev.MemoryTruncated, kept=len(self.livemind.memory.entries), dropped=dropped)
        segments = tuple(self.livemind.segments)
        if segments != self._segments_seen:
            self._segments_seen = segments
            self.emit(ev.SegmentsClosed, segments=segments)

    # -- end of utterance ----------------------------------------------------------------------------
    def _answer(self) -> None:
        self._answering, self._barged = True, False
        try:
            self._answer_turn()
        finally:
            self._answering, self._answer_stop = False, None
        if self._candidate is not None and self._candidate.detected_audio_t is not None:
            self._start_candidate_turn()  # the barge-in that interrupted this answer is the next turn

    def _answer_turn(self) -> None:
        started = self.clock.now()
        transcript = self.asr.finish()
        self.emit(ev.TranscriptUpdate, stable=transcript.stable, unstable="", final=True,
                  compute_s=self.clock.now() - started)
        if not transcript.stable.strip() or self.mode == "transcribe":
            self.emit(ev.TurnDone)  # speech-like noise with no words, or ASR only: nothing to answer
            return
        text, system = transcript.stable, self.config.livemind.prompts
        if self.mode == "baseline":
            messages, (prefix, choices) = prompts.baseline_messages(system.baseline_system, text), ("", ())
        else:
            messages = (self.livemind.answer_messages(text) if self.mode == "livemind"
                        else prompts.baseline_messages(system.answer_system, text))  # direct: no notes
            prefix, choices = prompts.answer_start(text, self.config.answer.choice_prefix)
        # The reasoning baseline speaks all it generates; the answer-first modes say a short answer.
        said = self._speak_answer(self.conversation.with_history(messages), prefix, choices,
                                  max_sentences=0 if self.mode == "baseline" else self.config.answer.max_sentences)
        self.conversation.add(text, said)
        self.emit(ev.TurnDone)

    def _speak_answer(self, messages, prefix: str, choices: tuple[str, ...], max_sentences: int = 0) -> str:
        """Stream the answer into TTS sentence by sentence; at most `max_sentences` are said (0: no limit).
        Returns the answer as said (cut where a barge-in stopped it)."""
        model = self.backends.answer_model
        chunker = SentenceChunker(self.config.tts.first_chunk_words)
        self.emit(ev.AnswerStarted, mode=self.mode)
        unsaid = [prefix]  # a forced start of the reply is spoken with the first generated token
        said: list[str] = []
        stop = self._answer_stop = threading.Event()
        if self._cancel.is_set():
            stop.set()
        enough = [False]

        def on_text(delta: str) -> None:
            self._poll()  # before the next piece of work (a sentence to synthesise): a barge-in may stop it
            if stop.is_set():
                return
            delta, unsaid[:] = unsaid[0] + delta, [""]
            self.emit(ev.AnswerDelta, text=delta)
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
                                    repetition_penalty=self.config.answer.repetition_penalty)
        interrupted = self._interrupted()
        text = " ".join(said) if enough[0] or interrupted else generation.text.strip()
        self.emit(ev.AnswerDone, text=text, tokens=generation.tokens, prompt_tokens=generation.prompt_tokens,
                  hit_token_cap=generation.hit_token_cap, interrupted=interrupted)
        if not stop.is_set():
            for piece in chunker.flush():
                if self._say(piece):
                    said.append(piece)
        return " ".join(said) if interrupted or enough[0] else text

    def _say(self, sentence: str) -> bool:
        """Synthesise one piece and hand it to the sink; False when nothing was played (interrupted)."""
        if self._interrupted():
            return False
        self.emit(ev.SentenceReady, text=sentence)
        tts = self.backends.tts
        played = False
        for samples in tts.synthesize(sentence):
            if self._interrupted():
                break  # a barge-in during synthesis: this audio is never played
            self.sink.write(samples, tts.sample_rate)
            start = max(self.clock.now(), self._playback_end)
            self._playback_end = start + samples.shape[0] / tts.sample_rate
            self.emit(ev.TTSAudio, samples=samples, sample_rate=tts.sample_rate, text=sentence)
            played = True
            self._poll()
        return played
