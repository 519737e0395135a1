"""faster-whisper as an `ASRBackend`: one deterministic, bounded recognition pass per call.

faster_whisper is imported only here, when a backend is built. Choices made for streaming (see
docs/streaming-asr-notes.md): a single temperature (fallback retries made single passes take 6-16 s),
no conditioning on previous text (the caller supplies the committed text as the prompt), no built-in VAD
(the endpointer gates speech), and segments that look like silence or repetition loops are dropped.
The caller may have the encoder read only the start of Whisper's 30 s window, where the audio is
(`window_s`): on CPU the encoder is most of a pass, whatever the length of the audio.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from ..config import ASRConfig
from ..models import resolve
from .words import SegmentScore, Word, normalise

LOW_LOGPROB = -1.0  # with a high no-speech probability, below this a segment is taken for silence
MAX_NGRAM = 8  # repetition guard: an n-gram of up to 8 words repeated in a row ...
MAX_REPEATS = 4  # ... this many times (1..3 words: "the the the the") ...
MAX_REPEATS_LONG = 3  # ... or this many (4..8 words: a phrase or sentence said over and over) is a loop
# The commit guard (asr.commit_guard): a kept segment is doubtful, its words shown but not committed until
# the end of the turn (nor fed back as the prompt), when Whisper's own fallback would have retried it
# (avg_logprob below -1), when it is likely no speech, or when it compresses like a loop in the making (a
# compression ratio above 2 and a phrase of 2+ words said twice in a row). Compression alone is no sign of
# a loop: options read aloud ("S equals one, R equals two, ...") compress 2.4-2.9 at avg_logprob -0.4.
DOUBT_LOGPROB = -1.0
DOUBT_COMPRESSION = 2.0
SAMPLE_RATE = 16000
FRAMES_PER_S = 100  # Whisper's log-mel frames; the encoder halves them (stride-2 convolution)
WINDOW_FRAMES = 3000  # the 30 s window Whisper was trained on
WHOLE_WINDOW_S = WINDOW_FRAMES / FRAMES_PER_S
WINDOW_PAD_S = 2.0  # audio longer than the window asked for: the encoder reads it and this much after it
TOKENS_PER_S, TOKENS_MIN = 8, 24  # the most tokens a pass may decode: generous for fast speech


class FasterWhisperBackend:
    """Implements `ASRBackend` with a CTranslate2 Whisper model."""

    def __init__(self, config: ASRConfig) -> None:
        self.config = config
        self.window_retries = 0  # passes decoded again with the whole window (see transcribe)
        location = resolve(config.model)  # "path": a local folder; "hub": an id faster-whisper downloads
        self.model = _window_model()(
            location.value, device=config.device, compute_type=config.compute_type, cpu_threads=config.cpu_threads
        )
        # The first pass pays one-off set-up costs (~1 s here): pay them at load, not in the user's first turn.
        self.transcribe(np.zeros(16000, np.float32), "")

    def transcribe(self, audio: np.ndarray, prompt: str, window_s: float = WHOLE_WINDOW_S) -> list[Word]:
        audio = np.asarray(audio, dtype=np.float32)
        audio_s = len(audio) / SAMPLE_RATE
        frames = encoder_frames(audio_s, window_s)
        segments = self._decode(audio, audio_s, prompt, frames)
        if frames is not None and any(self._looping(segment) for segment in segments):
            self.window_retries += 1  # the short window made Whisper loop: the whole window, as trained
            segments = self._decode(audio, audio_s, prompt, None)
        words: list[Word] = []
        for segment in segments:
            if self._keep(segment):
                score = self._score(segment)
                words.extend(Word(float(w.start), float(w.end), w.word, score) for w in segment.words or ())
        return cut_repetition_loop(words)

    def _decode(self, audio: np.ndarray, audio_s: float, prompt: str, frames: int | None) -> list:
        cfg = self.config
        self.model.window.frames = frames
        # One encoder window per pass when the audio fits in one. faster-whisper goes on from the last word's
        # end whenever a window's text ends before its audio does, and decodes that tail as a window of its
        # own: the trailing silence of a pause, or half a word. Over three fixtures' streaming passes that
        # was 26 passes in 70, each ~1.7x as long, and 24 of those tails gave no word (the next pass hears
        # the buffer again anyway).
        self.model.window.one = audio_s <= WHOLE_WINDOW_S
        self.model.window.encoded = 0
        generated, _info = self.model.transcribe(
            audio,
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
            # A loop ("in his book, in his book, ...") runs to Whisper's 224-token limit, ~2 s of decoding
            # on CPU; speech has at most ~6 tokens a second.
            max_new_tokens=max_tokens(audio_s),
        )
        segments = []
        try:
            for segment in generated:  # the generator decodes lazily: run it here, in the caller's thread
                segments.append(segment)
        except _NextWindow:
            pass  # the first window's segments are all in: it yields them before encoding the next
        finally:
            self.model.window.one = False
        return segments

    def _score(self, segment) -> SegmentScore:
        doubtful = self.config.commit_guard and (
            segment.avg_logprob < DOUBT_LOGPROB or segment.no_speech_prob > self.config.no_speech_threshold
            or (segment.compression_ratio > DOUBT_COMPRESSION and _repeats(segment, loop_in_the_making)))
        return SegmentScore(float(segment.avg_logprob), float(segment.no_speech_prob),
                            float(segment.compression_ratio), bool(doubtful))

    def _keep(self, segment) -> bool:
        silent = segment.no_speech_prob > self.config.no_speech_threshold and segment.avg_logprob < LOW_LOGPROB
        return not (silent or self._looping(segment))

    def _looping(self, segment) -> bool:
        """Whisper's own loop test (the compression ratio) confirmed by a loop in the words or a low
        average log-probability: spoken lists compress like loops and are decoded confidently (a 20 s
        list of options was dropped from every pass, each pass decoded twice)."""
        return (segment.compression_ratio > self.config.compression_ratio_threshold
                and (segment.avg_logprob < DOUBT_LOGPROB or _repeats(segment, loop_repeats)))


def loop_repeats(size: int) -> int:
    """How many times in a row an n-gram of `size` words must be said to be a decoding loop."""
    return MAX_REPEATS if size <= 3 else MAX_REPEATS_LONG


def loop_in_the_making(size: int) -> int:
    """A phrase of 2+ words said twice in a row (0: single words are not looked for: "very very")."""
    return 2 if size > 1 else 0


def _repeats(segment, repeats_for_size) -> bool:
    texts = [normalise(w.word) for w in segment.words or ()]
    return repetition_at(texts, repeats_for_size) is not None


def repetition_at(texts: list[str], repeats_for_size) -> tuple[int, int] | None:
    """The first (start, size) where an n-gram of 1..MAX_NGRAM words is repeated in a row at least
    `repeats_for_size(size)` times (0: that size is not looked for); None if there is none."""
    for start in range(len(texts)):
        for size in range(1, MAX_NGRAM + 1):
            needed = repeats_for_size(size)
            gram = texts[start : start + size]
            if not needed or len(gram) < size or not any(gram):
                continue
            repeats = 1
            while texts[start + repeats * size : start + (repeats + 1) * size] == gram:
                repeats += 1
            if repeats >= needed:
                return start, size
    return None


def encoder_frames(audio_s: float, window_s: float) -> int | None:
    """How many feature frames of its 30 s window the encoder reads for `audio_s` seconds of audio:
    `window_s`, or the audio and WINDOW_PAD_S after it when longer (even: the encoder's convolution has
    stride 2); None: the whole window."""
    seconds = max(window_s, audio_s + WINDOW_PAD_S)
    frames = 2 * math.ceil(seconds * FRAMES_PER_S / 2)
    return None if frames >= WINDOW_FRAMES else frames


def max_tokens(audio_s: float) -> int:
    return min(224, TOKENS_MIN + math.ceil(TOKENS_PER_S * audio_s))


class _NextWindow(Exception):
    """Raised inside faster-whisper's segment generator to stop it before it encodes a second window."""


def _window_model():
    """faster-whisper's WhisperModel whose encoder reads only the first `window.frames` frames of each
    30 s window (the rest is padding: zeros after the audio), and encodes no second window when
    `window.one` is set. A thread-local, so a model shared between threads keeps each call's own."""
    from faster_whisper import WhisperModel  # heavy: only when this backend is used

    class WindowedWhisper(WhisperModel):
        window = threading.local()

        def encode(self, features):
            if getattr(self.window, "one", False) and self.window.encoded:
                raise _NextWindow
            self.window.encoded = getattr(self.window, "encoded", 0) + 1
            frames = getattr(self.window, "frames", None)
            if frames is not None and features.shape[-1] > frames:
                features = features[..., :frames]
            return super().encode(features)

    return WindowedWhisper


def cut_repetition_loop(words: list[Word]) -> list[Word]:
    """Cut the words after the first occurrence of an n-gram that loops (`loop_repeats`: "the the the
    the ...", or a sentence said three times over): tiny models loop like that when the audio ends
    mid-word, and the rest of such a hypothesis is not worth keeping."""
    found = repetition_at([normalise(w.text) for w in words], loop_repeats)
    return words if found is None else words[: found[0] + found[1]]
