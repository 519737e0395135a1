"""Typed events exchanged by the pipeline stages.

Every event carries `t`, the pipeline clock time (seconds) at which it happened, and `turn`, the id of the
user turn it belongs to. Audio time and clock time share an origin: the audio sample at second s of the
input arrives at clock time s, so latencies can be read straight off the events.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Event:
    t: float
    turn: int

    @property
    def kind(self) -> str:
        return type(self).__name__

    def to_json(self) -> dict:
        """A JSON-friendly dict; audio payloads are summarised, not dumped."""
        out = {"event": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                out[f.name + "_samples"] = int(value.shape[0])
            elif isinstance(value, tuple):
                out[f.name] = [dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for v in value]
            else:
                out[f.name] = value
        return out


@dataclass(frozen=True)
class SpeechStarted(Event):
    audio_t: float  # where speech starts in the input audio


@dataclass(frozen=True)
class SpeechEnded(Event):
    audio_t: float  # end of the last speech frame in the input audio (the VAD's estimate of the true end)
    reason: str = "vad"  # "vad": hangover elapsed; "end_of_input": the audio ran out during speech
    detected_audio_t: float = 0.0  # how far into the input the VAD had heard when it decided the end


@dataclass(frozen=True)
class NonFiniteSamples(Event):
    """Broken samples (NaN, +inf, -inf) in the input, replaced by silence so the turn goes on; one event
    per stretch of them (see audio/guard.py), emitted when the stretch is over."""

    audio_t: float  # where the first one is in the input
    end_audio_t: float  # just after the last one
    samples: int  # how many were replaced


@dataclass(frozen=True)
class EndOfTurnChecked(Event):
    """The end-of-turn model (smart-turn) heard the turn up to `audio_t`, in a pause of vad.min_silence_ms."""

    audio_t: float  # how far into the input the audio it heard reached
    p_complete: float  # its probability that the turn is finished
    ended: bool  # the turn ended on it (p >= vad.end_threshold and the user still silent)
    compute_s: float = 0.0


@dataclass(frozen=True)
class TurnResumed(Event):
    """The user went on after the end model ended the turn, before any of the answer was heard: the same
    turn continues (its answer is dropped); it ends again with a later SpeechEnded."""

    audio_t: float  # where the speech that resumed it started


@dataclass(frozen=True)
class TranscriptUpdate(Event):
    stable: str  # committed text: will not change any more
    unstable: str  # the latest hypothesis beyond the committed text: may still change
    final: bool = False  # True once the utterance ended and everything is committed
    compute_s: float = 0.0  # how long the recognition pass took
    heard_until: float = 0.0  # input time up to which this pass heard the audio
    words: tuple = ()  # the committed words (asr.words.Word, absolute input times)


@dataclass(frozen=True)
class SegmentsClosed(Event):
    segments: tuple[str, ...]  # all closed segments of the turn so far


@dataclass(frozen=True)
class Note(Event):
    action: str  # "inference", "wait", ... (see livemind.actions)
    text: str
    segments: tuple[str, ...]  # the new segments this note was written for
    compute_s: float = 0.0
    parsed: bool = True  # False when the reply did not follow the action format and was kept whole


@dataclass(frozen=True)
class NoteYielded(Event):
    """A note call stopped to make way for the end-of-turn work (preemptive schedule): not a note yet."""

    segments: tuple[str, ...]
    partial: str  # the reply so far: the next call goes on from it if it covers the same segments
    compute_s: float = 0.0


@dataclass(frozen=True)
class SpeculationStarted(Event):
    """In a pause that may end the turn, the answer is started from this transcript; its output is held."""

    text: str


@dataclass(frozen=True)
class SpeculationUsed(Event):
    """The VAD confirmed the end with the transcript unchanged: the held answer is released at `t`."""

    compute_s: float  # lane time the speculation had taken when it was confirmed
    complete: bool  # the whole answer had been generated and synthesised before the end was confirmed


@dataclass(frozen=True)
class SpeculationDiscarded(Event):
    """The user went on (or the transcript changed): the speculative answer is thrown away."""

    reason: str  # "speech": speech resumed | "transcript": the final transcript differs
    compute_s: float  # lane time spent on it: the wasted compute


@dataclass(frozen=True)
class MemoryTruncated(Event):
    kept: int  # entries kept after a transcript revision
    dropped: int


@dataclass(frozen=True)
class AnswerStarted(Event):
    mode: str
    speculative: bool = False  # started before the end of the turn was confirmed (see SpeculationStarted)
    forced_start: str = ""  # answer-first: the reply was made to start so ("The answer is (") with an option letter


@dataclass(frozen=True)
class AnswerDelta(Event):
    text: str


@dataclass(frozen=True)
class AnswerDone(Event):
    text: str
    tokens: int
    prompt_tokens: int = 0
    hit_token_cap: bool = False
    interrupted: bool = False  # a barge-in (or cancel) stopped it: `text` is what was said until then


@dataclass(frozen=True)
class SentenceReady(Event):
    text: str  # one complete sentence of the answer, handed to TTS


@dataclass(frozen=True)
class TTSAudio(Event):
    samples: np.ndarray = field(repr=False)  # float32 mono in [-1, 1]
    sample_rate: int = 22050
    text: str = ""


@dataclass(frozen=True)
class TurnDone(Event):
    pass


@dataclass(frozen=True)
class BargeIn(Event):
    """The user spoke while the assistant answered: generation and playback were stopped at `t`.

    `t - detected_audio_t` is the stop latency: from the moment the audio that confirmed the speech had
    arrived to the moment everything was stopped. The new turn (turn + 1) starts right after."""

    audio_t: float  # where the interrupting speech starts in the input
    detected_audio_t: float  # end of the frame that confirmed it (barge_in.min_speech_ms of speech)
    generation_stopped: bool = False  # the answer was still being generated: its stop flag was set
    playback_stopped: bool = False  # answer audio was still playing: the sink was stopped


@dataclass(frozen=True)
class BargeInIgnored(Event):
    """Speech-like sound while the assistant answered, too short to interrupt it (a cough, a click)."""

    audio_t: float
    speech_s: float  # how much of it the VAD called speech


class EventLog:
    """The pipeline's events, oldest first. `keep_turns` > 0 bounds it for long sessions: once a turn is
    done, only the events of the last `keep_turns` turns are kept (0 keeps everything: a replay)."""

    def __init__(self, keep_turns: int = 0):
        self.keep_turns = keep_turns
        self._events: list[Event] = []

    def append(self, event: Event) -> None:
        self._events.append(event)
        if self.keep_turns > 0 and isinstance(event, TurnDone):
            oldest = event.turn - self.keep_turns + 1
            self._events = [e for e in self._events if e.turn >= oldest]

    def all(self) -> list[Event]:
        return list(self._events)

    def __iter__(self):
        return iter(list(self._events))

    def __len__(self) -> int:
        return len(self._events)

    def __getitem__(self, index):
        return self._events[index]
