"""Wires the stages together and runs one compute lane over an audio stream.

Why one lane: Whisper, the language model and Piper each want both of a small machine's cores, so running
them in parallel only makes each slower. The loop therefore does one piece of model work at a time and,
between pieces, catches up with the audio that arrived meanwhile (the VAD is cheap and runs on every
frame). Time comes from the injected clock only, so the same code runs in real time, fast-forwarded
(compute time kept, idle waiting skipped) and under a virtual clock in tests.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

import numpy as np

from voice_livemind import events as ev
from voice_livemind.asr import ASRBackend, StreamingASR
from voice_livemind.audio.source import AudioFrame, frames_of
from voice_livemind.config import Config
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
    def write(self, samples: np.ndarray, sample_rate: int) -> None: ...

    def close(self) -> None: ...


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
        self.turn = 0
        self._preroll: deque[AudioFrame] = deque(maxlen=max(1, config.vad.preroll_ms // config.vad.frame_ms))
        self._segments_seen: tuple[str, ...] = ()
        self._last_pass_s = 0.0  # compute time of the latest recognition pass

    # -- events --------------------------------------------------------------------------------------
    def emit(self, cls, **fields) -> ev.Event:
        event = cls(t=self.clock.now(), turn=self.turn, **fields)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        return event

    # -- main loop -----------------------------------------------------------------------------------
    def run(self, samples: np.ndarray) -> list[ev.Event]:
        frames = deque(frames_of(samples, self.config.vad.frame_ms, self.config.audio.sample_rate))
        while frames or self.endpointer.in_speech:
            self._catch_up(frames)
            if not frames and self.endpointer.in_speech:  # input over while the user was still talking
                self._handle_boundary(self.endpointer.end_of_input())
                continue
            if self._do_one_piece_of_work():
                continue
            if frames:
                self.clock.sleep_until(frames[0].t + frames[0].duration)
        self.sink.close()
        return self.events

    def _catch_up(self, frames: deque[AudioFrame]) -> None:
        """Feed every frame that has fully arrived by now to the VAD (and to the ASR during speech)."""
        while frames and frames[0].t + frames[0].duration <= self.clock.now() + 1e-9:
            frame = frames.popleft()
            if self.endpointer.in_speech:
                self.asr.append(frame.samples)
            else:
                self._preroll.append(frame)
            boundary = self.endpointer.push(frame.t, frame.samples)
            if boundary is not None:
                self._handle_boundary(boundary)

    def _handle_boundary(self, boundary: Boundary) -> None:
        if boundary.kind == "start":
            self.turn += 1
            self.asr.reset(self._preroll[0].t if self._preroll else boundary.audio_t)
            for frame in self._preroll:
                self.asr.append(frame.samples)
            self._preroll.clear()
            self.livemind.reset()
            self._segments_seen = ()
            self.emit(ev.SpeechStarted, audio_t=boundary.audio_t)
        else:
            self.emit(ev.SpeechEnded, audio_t=boundary.audio_t, reason=boundary.reason)
            self._answer()

    def _do_one_piece_of_work(self) -> bool:
        """While the user speaks: a recognition pass when due, else one LiveMind inference call."""
        if not self.endpointer.in_speech:
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
            result = self.livemind.step()
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
        self._speak_answer(messages, prefix, choices,
                           max_sentences=0 if self.mode == "baseline" else self.config.answer.max_sentences)
        self.emit(ev.TurnDone)

    def _speak_answer(self, messages, prefix: str, choices: tuple[str, ...], max_sentences: int = 0) -> None:
        """Stream the answer into TTS sentence by sentence; at most `max_sentences` are said (0: no limit)."""
        model = self.backends.answer_model
        chunker = SentenceChunker(self.config.tts.first_chunk_words)
        self.emit(ev.AnswerStarted, mode=self.mode)
        unsaid = [prefix]  # a forced start of the reply is spoken with the first generated token
        said: list[str] = []
        enough = threading.Event()

        def on_text(delta: str) -> None:
            if enough.is_set():
                return
            delta, unsaid[:] = unsaid[0] + delta, [""]
            self.emit(ev.AnswerDelta, text=delta)
            for piece in chunker.push(delta):
                self._say(piece)
                said.append(piece)
                if max_sentences and sum(p.rstrip().endswith((".", "!", "?")) for p in said) >= max_sentences:
                    enough.set()  # a spoken answer stays short: stop generating here
                    break

        generation = model.generate(messages, self.config.answer.max_new_tokens, prefix=prefix,
                                    first_word_choices=choices, on_text=on_text, stop=enough,
                                    stop_when_answered=self.config.answer.stop_when_answered,
                                    repetition_penalty=self.config.answer.repetition_penalty)
        text = " ".join(said) if enough.is_set() else generation.text.strip()
        self.emit(ev.AnswerDone, text=text, tokens=generation.tokens, prompt_tokens=generation.prompt_tokens,
                  hit_token_cap=generation.hit_token_cap)
        if not enough.is_set():
            for piece in chunker.flush():
                self._say(piece)

    def _say(self, sentence: str) -> None:
        self.emit(ev.SentenceReady, text=sentence)
        tts = self.backends.tts
        for samples in tts.synthesize(sentence):
            self.sink.write(samples, tts.sample_rate)
            self.emit(ev.TTSAudio, samples=samples, sample_rate=tts.sample_rate, text=sentence)
