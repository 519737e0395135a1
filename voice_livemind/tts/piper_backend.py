"""Piper text-to-speech: one audio chunk per sentence, float32 at the voice's own rate."""

from __future__ import annotations

import json
import re
from typing import Iterator

import numpy as np

from voice_livemind.config import TTSConfig
from voice_livemind.models import ModelNotFoundError, resolve
from voice_livemind.onnx_session import open_session

# Markdown and list markers the answer model likes to emit; Piper would read them out.
_UNSPOKEN = re.compile(r"[*#_`|>\[\]{}]+")


def speakable(text: str) -> str:
    return re.sub(r"\s+", " ", _UNSPOKEN.sub(" ", text)).strip()


class ShrinkingSession:
    """An onnxruntime session whose CPU memory arena gives back what a run needed beyond its start size.
    The arena keeps the largest buffers any run has needed: measured here, synthesising one sentence of 1,
    2, 4, 8 and 12 clauses took the process from 141 to 194, 249, 357, 594 and 883 MiB, kept for good; with
    the shrinkage 148-316 MiB, at the same speed (a long soak's memory grew in such steps)."""

    def __init__(self, session) -> None:
        import onnxruntime as ort

        self._session = session
        self._options = ort.RunOptions()
        self._options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def run(self, output_names, input_feed, run_options=None):
        return self._session.run(output_names, input_feed, run_options or self._options)

    def __getattr__(self, name):
        return getattr(self._session, name)


class PiperTTS:
    def __init__(self, config: TTSConfig):
        from piper import PiperVoice, SynthesisConfig
        from piper.config import PiperConfig

        where = resolve(config.voice)
        if where.kind != "path" or not where.value.endswith(".onnx"):
            raise ModelNotFoundError(f"tts.voice must be a local Piper .onnx file or packaged voice, got {config.voice!r}")
        # Our own onnxruntime session instead of PiperVoice.load's: its threads and spinning matter here.
        with open(f"{where.value}.json", encoding="utf-8") as f:
            voice_config = PiperConfig.from_dict(json.load(f))
        session = open_session(where.value, config.threads, "cuda" if config.use_cuda else "cpu")
        self._voice = PiperVoice(session=ShrinkingSession(session), config=voice_config)
        self._syn = SynthesisConfig(length_scale=config.length_scale)
        self.sample_rate = int(self._voice.config.sample_rate)

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        text = speakable(text)
        if not text:
            return
        for chunk in self._voice.synthesize(text, self._syn):
            yield chunk.audio_float_array.astype(np.float32)
