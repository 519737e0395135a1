"""The model backends a pipeline runs on, and the protocols of its audio output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

import numpy as np

from voice_livemind.asr import ASRBackend
from voice_livemind.config import Config, LLMConfig
from voice_livemind.llm.base import ChatModel


class TTS(Protocol):
    sample_rate: int

    def synthesize(self, text: str) -> Iterator[np.ndarray]: ...


class Sink(Protocol):
    """Where the answer's audio goes. A sink that plays audio also has `stop()`: drop what is queued
    (barge-in); the pipeline calls it when present."""

    def write(self, samples: np.ndarray, sample_rate: int) -> None: ...

    def close(self) -> None: ...


@dataclass
class Backends:
    is_speech: Callable[[np.ndarray], bool]
    asr: ASRBackend
    inference_model: ChatModel
    answer_model: ChatModel
    tts: TTS
    # p(the turn is finished) from the audio of the turn so far (smart-turn); None: silence alone ends turns
    end_of_turn: Callable[[np.ndarray], float] | None = None


class WithThreads:
    """One loaded model serving a role with its own thread count: the notes run on one core beside
    recognition, the answer at the end of the turn may take the whole machine. Sharing the model keeps the
    notes' key/value cache for the answer."""

    def __init__(self, model: ChatModel, threads: int, prefill_threads: int = 0):
        self.model = model
        self.threads = threads
        self.prefill_threads = prefill_threads
        self.name = getattr(model, "name", type(model).__name__)

    def __getattr__(self, name):  # forget, snapshot, restore, ... go to the model itself
        return getattr(self.model, name)

    def _use(self) -> None:
        set_threads = getattr(self.model, "set_threads", None)
        if set_threads is not None:
            set_threads(self.threads, self.prefill_threads)

    def prefill(self, messages, stop=None) -> None:
        self._use()
        self.model.prefill(messages, stop=stop)

    def generate(self, messages, max_new_tokens, **kwargs):
        self._use()
        return self.model.generate(messages, max_new_tokens, **kwargs)


def in_role(model: ChatModel, role: LLMConfig) -> ChatModel:
    """`model` (or the model under a role view) with the thread counts of `role`."""
    return WithThreads(getattr(model, "model", model), role.threads, role.prefill_threads)


def same_model(a: LLMConfig, b: LLMConfig) -> bool:
    """The two roles can share one loaded model (their thread counts may differ)."""
    return (a.model, a.device, a.dtype, getattr(a, "engine", None), getattr(a, "base_url", "")) == (
        b.model, b.device, b.dtype, getattr(b, "engine", None), getattr(b, "base_url", ""))


def load_backends(config: Config, mode: str) -> Backends:
    """The real models. When both roles name the same model it is loaded once and shared. A device or a
    model that is not there is named before anything loads (preflight.py)."""
    from voice_livemind import preflight

    preflight.check(config, mode)
    from voice_livemind.asr.whisper_backend import FasterWhisperBackend
    from voice_livemind.llm import load_chat_model
    from voice_livemind.tts.piper_backend import PiperTTS
    from voice_livemind.vad.detectors import load_end_of_turn, speech_classifier

    roles = config.models
    answer = load_chat_model(roles.answer)
    if same_model(roles.inference, roles.answer):
        inference, answer = in_role(answer, roles.inference), in_role(answer, roles.answer)
    else:
        inference = load_chat_model(roles.inference) if mode == "livemind" else answer
    return Backends(
        is_speech=speech_classifier(config.vad),
        asr=FasterWhisperBackend(config.asr),
        inference_model=inference,
        answer_model=answer,
        tts=PiperTTS(config.tts),
        end_of_turn=load_end_of_turn(config.vad),
    )
