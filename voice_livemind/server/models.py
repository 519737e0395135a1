"""The loaded models, shared by every session: each model call holds one lock, so one runs at a time.

The models share the machine's cores: two calls at once would each run at half speed and both sessions
would wait longer than with turns. The lock is process-wide (ASR, language models and TTS alike) and
re-entrant, so a lane that calls one model from inside another's callback cannot deadlock itself. The VAD
is not shared: it keeps state, so each session has its own.
"""

from __future__ import annotations

import dataclasses
import threading
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


class LockedASR(_Locked):
    transcribe = _under_lock("transcribe")


class LockedTTS(_Locked):
    """Speech synthesis that holds the lock for one chunk at a time: between chunks other sessions may run."""

    def __init__(self, inner, lock):
        super().__init__(inner, lock)
        self.sample_rate = inner.sample_rate

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        chunks = self._inner.synthesize(text)
        while True:
            with self._lock:  # each chunk is one model call
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk


def share_backends(backends: Backends, lock: threading.RLock, is_speech) -> Backends:
    """A session's view of the shared models: every model call holds `lock`; the VAD is the session's."""
    answer = LockedChat(backends.answer_model, lock)
    inference = answer if backends.inference_model is backends.answer_model else LockedChat(backends.inference_model, lock)
    return dataclasses.replace(backends, is_speech=is_speech, asr=LockedASR(backends.asr, lock),
                               inference_model=inference, answer_model=answer, tts=LockedTTS(backends.tts, lock))
