"""Fakes for the model backends. Each one models its compute cost by sleeping on the virtual clock."""

from __future__ import annotations

import re

import numpy as np

from voice_livemind.asr import Word
from voice_livemind.asr.whisper_backend import WHOLE_WINDOW_S
from voice_livemind.llm.base import Generation

RATE = 16000


def tone(seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def silence(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.zeros(int(seconds * rate), dtype=np.float32)


def energy_vad(samples: np.ndarray) -> bool:
    return float(np.sqrt(np.mean(samples**2))) > 0.01


class ScriptedASR:
    """Recognises a fixed script: a word is heard once the buffer reaches its end time."""

    def __init__(self, clock, words: list[tuple[float, float, str]], cost_s: float = 0.3):
        self.clock = clock
        self.words = words  # (start, end, text), times relative to the buffer start
        self.cost_s = cost_s
        self.calls = 0
        self.starts: list[float] = []  # clock time at which each pass began
        self.windows: list[float] = []  # the encoder window each pass asked for

    def transcribe(self, audio: np.ndarray, prompt: str, window_s: float = WHOLE_WINDOW_S) -> list[Word]:
        self.calls += 1
        self.starts.append(self.clock.now())
        self.windows.append(window_s)
        self.clock.sleep(self.cost_s)
        heard_until = audio.shape[0] / RATE
        return [Word(s, e, w) for s, e, w in self.words if e <= heard_until]


class ScriptedChatModel:
    """Replies from a list (cycled), streaming word by word; costs prefill + per-token time.

    A model that plays both roles gets `answer_replies` too: used for calls not forced to start "action".
    """

    name = "scripted"

    def __init__(self, clock, replies: list[str], prefill_s: float = 0.2, per_token_s: float = 0.05,
                 answer_replies: list[str] | None = None):
        self.clock = clock
        self.replies = replies
        self.answer_replies = answer_replies
        self.prefixes: list[str] = []
        self.prefill_s = prefill_s
        self.per_token_s = per_token_s
        self.calls: list[list[dict]] = []

    def forget(self):
        self.resets = getattr(self, "resets", 0) + 1

    def snapshot(self):
        return None

    def restore(self, snapshot):
        pass

    def prefill(self, messages, stop=None):
        """Half a prefill's cost (or `warm_s` when set), in four chunks: a set `stop` ends it between them."""
        self.prefilled = getattr(self, "prefilled", []) + [messages]
        self.prefilled_at = getattr(self, "prefilled_at", []) + [self.clock.now()]
        cost = getattr(self, "warm_s", None) or self.prefill_s / 2
        for _ in range(4):
            if stop is not None and stop.is_set():
                self.prefills_stopped = getattr(self, "prefills_stopped", 0) + 1
                return
            self.clock.sleep(cost / 4)

    def generate(self, messages, max_new_tokens, *, prefix="", first_word_choices=(), banned_first_words=(),
                 stop_at_newline=False,
                 stop_when_answered=False, stop_at=None, on_text=None, stop=None, repetition_penalty=1.0,
                 stoppable_prefill=False) -> Generation:
        replies = self.answer_replies if (self.answer_replies and prefix != "action") else self.replies
        reply = replies[len(self.calls) % len(replies)]
        self.calls.append(messages)
        self.prefixes.append(prefix)
        self.clock.sleep(self.prefill_s)
        body = reply[len(prefix):] if reply.startswith(prefix) else reply
        pieces = re.findall(r"\s*\S+", body)  # one "token" per word, with its leading space
        kept = []
        start = prefix if reply.startswith(prefix) else ""
        complete = False
        for piece in pieces[:max_new_tokens]:
            if stop is not None and stop.is_set():
                break
            self.clock.sleep(self.per_token_s)
            kept.append(piece)
            if on_text is not None:
                on_text(piece)
            if stop_at is not None and stop_at(start + "".join(kept)):
                complete = True
                break
        text = start + "".join(kept)
        reason = ("stop_flag" if stop is not None and stop.is_set() else "complete" if complete
                  else "cap" if len(kept) < len(pieces) else "end")
        return Generation(text, len(kept), 10, stop_reason=reason)


class StopAfter:
    """A stop flag that trips after `n` checks (a model checks once per token, or per prefill chunk)."""

    def __init__(self, n):
        self.n = n

    def is_set(self):
        self.n -= 1
        return self.n < 0


class FakeTTS:
    sample_rate = 22050

    def __init__(self, clock, cost_s: float = 0.05, seconds_per_char: float = 0.05):
        self.clock = clock
        self.cost_s = cost_s
        self.seconds_per_char = seconds_per_char  # how much audio a piece of text becomes
        self.spoken: list[str] = []

    def synthesize(self, text: str):
        self.clock.sleep(self.cost_s)
        self.spoken.append(text)
        yield np.full(int(self.seconds_per_char * len(text) * self.sample_rate), 0.1, dtype=np.float32)


class ListSink:
    def __init__(self):
        self.chunks = []
        self.closed = False

    def write(self, samples, sample_rate):
        self.chunks.append((samples, sample_rate))

    def close(self):
        self.closed = True
