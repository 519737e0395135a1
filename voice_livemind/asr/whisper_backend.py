"""faster-whisper as an `ASRBackend`: one deterministic, bounded recognition pass per call.

faster_whisper is imported only here, when a backend is built. Choices made for streaming (see
docs/streaming-asr-notes.md): a single temperature (fallback retries made single passes take 6-16 s),
no conditioning on previous text (the caller supplies the committed text as the prompt), no built-in VAD
(the endpointer gates speech), and segments that look like silence or repetition loops are dropped.
"""

from __future__ import annotations

import numpy as np

from ..config import ASRConfig
from ..models import resolve
from .words import SegmentScore, Word, normalise

LOW_LOGPROB = -1.0  # with a high no-speech probability, below this a segment is taken for silence
MAX_NGRAM = 3  # repetition guard: n-grams of 1..3 words ...
MAX_REPEATS = 4  # ... repeated this many times in a row are a decoding loop
# The commit guard (asr.commit_guard): a kept segment is doubtful, its words shown but not committed until
# the end of the turn (nor fed back as the prompt), when Whisper's own fallback would have retried it
# (avg_logprob below -1), when it is likely no speech, or when it compresses like a loop in the making.
DOUBT_LOGPROB = -1.0
DOUBT_COMPRESSION = 2.0


class FasterWhisperBackend:
    """Implements `ASRBackend` with a CTranslate2 Whisper model."""

    def __init__(self, config: ASRConfig) -> None:
        from faster_whisper import WhisperModel  # heavy: only when this backend is used

        self.config = config
        location = resolve(config.model)  # "path": a local folder; "hub": an id faster-whisper downloads
        self.model = WhisperModel(
            location.value, device=config.device, compute_type=config.compute_type, cpu_threads=config.cpu_threads
        )
        # The first pass pays one-off set-up costs (~1 s here): pay them at load, not in the user's first turn.
        self.transcribe(np.zeros(16000, np.float32), "")

    def transcribe(self, audio: np.ndarray, prompt: str) -> list[Word]:
        cfg = self.config
        segments, _info = self.model.transcribe(
            np.asarray(audio, dtype=np.float32),
            language=cfg.language,
            beam_size=cfg.beam_size,
            temperature=0.0,
            compression_ratio_threshold=cfg.compression_ratio_threshold,
            no_speech_threshold=cfg.no_speech_threshold,
            word_timestamps=True,
            condition_on_previous_text=False,
            initial_prompt=prompt or None,
            vad_filter=False,
            without_timestamps=False,
        )
        words: list[Word] = []
        for segment in list(segments):  # the generator decodes lazily: run it here, in the caller's thread
            if self._keep(segment):
                score = self._score(segment)
                words.extend(Word(float(w.start), float(w.end), w.word, score) for w in segment.words or ())
        return cut_repetition_loop(words)

    def _score(self, segment) -> SegmentScore:
        doubtful = self.config.commit_guard and (segment.avg_logprob < DOUBT_LOGPROB
                                                 or segment.no_speech_prob > self.config.no_speech_threshold
                                                 or segment.compression_ratio > DOUBT_COMPRESSION)
        return SegmentScore(float(segment.avg_logprob), float(segment.no_speech_prob),
                            float(segment.compression_ratio), bool(doubtful))

    def _keep(self, segment) -> bool:
        silent = segment.no_speech_prob > self.config.no_speech_threshold and segment.avg_logprob < LOW_LOGPROB
        looping = segment.compression_ratio > self.config.compression_ratio_threshold
        return not (silent or looping)


def cut_repetition_loop(words: list[Word]) -> list[Word]:
    """Cut the words at the second occurrence of a 1..3-word n-gram that repeats MAX_REPEATS times in a
    row ("the the the the ..."): tiny models loop like that when the audio ends mid-word, and the
    rest of such a hypothesis is not worth keeping."""
    texts = [normalise(w.text) for w in words]
    for start in range(len(texts)):
        for size in range(1, MAX_NGRAM + 1):
            gram = texts[start : start + size]
            if len(gram) < size or not any(gram):
                continue
            repeats = 1
            while texts[start + repeats * size : start + (repeats + 1) * size] == gram:
                repeats += 1
            if repeats >= MAX_REPEATS:
                return words[: start + size]
    return words
