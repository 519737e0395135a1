"""The loaded models, shared by every session: one lock per kind of model, so no model runs two calls at once.

There is one lock for recognition, one for the language models (notes and answers) and one for speech
synthesis: the pipeline's three compute lanes. A session's lanes run side by side as they do in
`voice-livemind replay`, on the cores the config gives each (a barge-in is heard while the answer is
generated); two sessions take turns on a model, whose state (a key/value cache) is not made for two
callers. The language models share a lock even when they are two: the notes and the answer roles are often
one model object under two wrappers. Nothing calls a model from inside another model's call, so the locks
need not be re-entrant. The VAD is not shared: it keeps state, so each session has its own.

A language model that says `concurrent = True` (engine openai: a client of a serving engine, which batches
the calls of every session and keeps no state here) is not locked: sessions' notes and answers go out at once.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from voice_livemind.pipeline import Backends


def _under_lock(method: str) -> Callable:
    def call(self, *args, **kwargs):
        with self._lock:
            return getattr(self._inner, method)(*args, **kwargs)

    call.__name__ = method
    call.__doc__ = f"`{method}` of the shared model, holding the model lock."
    return call


class _Locked:
    def __init__(self, inner, lock):
        self._inner, self._lock = inner, lock


class LockedChat(_Locked):
    """A ChatModel (voice_livemind.llm.base) whose every call holds the lock."""

    def __init__(self, inner, lock):
        super().__init__(inner, lock)
        self.name = getattr(inner, "name", "model")

    generate = _under_lock("generate")
    prefill = _under_lock("prefill")
    forget = _under_lock("forget")
    snapshot = _under_lock("snapshot")
    restore = _under_lock("restore")
    set_threads = _under_lock("set_threads")


class LockedASR(_Locked):
    transcribe = _under_lock("transcribe")


class LockedTTS(_Locked):
    """Speech synthesis that holds the lock for one chunk at a time."""

    def __init__(self, inner, lock):
        super().__init__(inner, lock)
        self.sample_rate = inner.sample_rate

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        chunks = self._inner.synthesize(text)
        while True:
            with self._lock:  # each chunk is one model call: between chunks another session may synthesise
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk


@dataclass(frozen=True)
class ModelLocks:
    """The locks of the shared models, one per kind (a server has one of these for all its sessions)."""

    asr: threading.Lock = field(default_factory=threading.Lock)
    llm: threading.Lock = field(default_factory=threading.Lock)
    tts: threading.Lock = field(default_factory=threading.Lock)


def share_backends(backends: Backends, locks: ModelLocks, is_speech) -> Backends:
    """A session's view of the shared models: every model call holds its kind's lock; the VAD is the
    session's."""
    answer = _shared_chat(backends.answer_model, locks.llm)
    inference = (answer if backends.inference_model is backends.answer_model
                 else _shared_chat(backends.inference_model, locks.llm))
    return dataclasses.replace(backends, is_speech=is_speech, asr=LockedASR(backends.asr, locks.asr),
                               inference_model=inference, answer_model=answer,
                               tts=LockedTTS(backends.tts, locks.tts))


def concurrent(model) -> bool:
    """Whether several sessions may call `model` at once (under a role view: the model it wraps)."""
    return bool(getattr(getattr(model, "model", model), "concurrent", False))


def _shared_chat(model, lock):
    return model if concurrent(model) else LockedChat(model, lock)
