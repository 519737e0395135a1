"""Streaming speech recognition: re-transcription of a growing buffer, LocalAgreement stable/unstable
split, and the faster-whisper backend (faster_whisper itself is imported only when a backend is built)."""

from .local_agreement import LocalAgreement
from .streaming import ASRBackend, StreamingASR, Transcript
from .whisper_backend import FasterWhisperBackend, cut_repetition_loop
from .words import Word, join_words, normalise

__all__ = [
    "ASRBackend",
    "FasterWhisperBackend",
    "LocalAgreement",
    "StreamingASR",
    "Transcript",
    "Word",
    "cut_repetition_loop",
    "join_words",
    "normalise",
]
