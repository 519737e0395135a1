"""Spoken test questions, made reproducibly with a Piper voice (fixtures and benchmark sets).

Piper draws its noise inside the ONNX graph from an unseeded generator, so noise_scale = noise_w_scale = 0
is what makes the same text give the same audio on every run. Each text line is synthesized on its own
(Piper ignores newlines), every sentence chunk is followed by SENTENCE_GAP of silence, and a clip gets
LEAD / TRAIL digital silence. Speech bounds are measured on the audio, never assumed from the padding.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from voice_livemind.audio.pcm import from_int16, to_int16

RATE = 16000
LEAD, TRAIL, SENTENCE_GAP = 0.5, 1.5, 0.2  # seconds
THRESHOLD_DBFS, RELATIVE_DB = -40.0, 35.0


def load_voice(location: str = "packaged:en_US-joe-medium"):
    from piper import PiperVoice

    from voice_livemind.models import resolve

    return PiperVoice.load(resolve(location).value)


def _config():
    from piper import SynthesisConfig

    return SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=1.0)


def piper_16k(voice, text: str) -> np.ndarray:
    """Piper speech for one line of text, resampled to 16 kHz, without padding."""
    import soxr

    audio = np.concatenate([chunk.audio_float_array for chunk in voice.synthesize(text, syn_config=_config())])
    return soxr.resample(audio, voice.config.sample_rate, RATE)


def synthesize(voice, text: str) -> np.ndarray:
    """Piper speech for TEXT at 16 kHz (float32), padded with LEAD and TRAIL seconds of silence."""
    import soxr

    gap = np.zeros(int(SENTENCE_GAP * voice.config.sample_rate), np.float32)
    parts = []
    for line in filter(None, (s.strip() for s in text.split("\n"))):
        for chunk in voice.synthesize(line, syn_config=_config()):
            parts += [chunk.audio_float_array, gap]
    speech = soxr.resample(np.concatenate(parts[:-1]), voice.config.sample_rate, RATE)
    return np.concatenate([np.zeros(int(LEAD * RATE), np.float32), speech, np.zeros(int(TRAIL * RATE), np.float32)])


def speech_bounds(audio: np.ndarray, rate: int = RATE) -> tuple[float, float]:
    """Speech start / end in seconds: first and last 10 ms window of a run of >= 3 windows whose RMS is above
    THRESHOLD_DBFS, or RELATIVE_DB below the loudest window where that is lower (quiet real recordings).
    The run rule ignores isolated clicks before the speech."""
    win = rate // 100
    frames = audio[: len(audio) // win * win].reshape(-1, win).astype(np.float64)
    rms_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)
    loud = (rms_db > min(THRESHOLD_DBFS, rms_db.max() - RELATIVE_DB)).astype(int)
    centres = np.flatnonzero(np.convolve(loud, np.ones(3, int), "same") == 3)
    if centres.size == 0:
        raise ValueError("no speech found")
    return round((centres[0] - 1) * win / rate, 3), round((centres[-1] + 2) * win / rate, 3)


def write_clip(path: Path, audio: np.ndarray, meta: dict, bounds: tuple[float, float] | None = None) -> dict:
    """Write PATH (.wav, int16) and its .json sidecar; the bounds are measured on the int16 audio as written,
    unless given (noisy mixes take those of the clean speech). A clip with empty text has no bounds."""
    import soundfile as sf

    pcm = to_int16(audio)  # exact for audio that came from int16
    sf.write(str(path), pcm, RATE, subtype="PCM_16")
    if not meta["text"]:
        meta = {"text": meta.pop("text"), **meta}
    else:
        start, end = bounds or speech_bounds(from_int16(pcm))
        meta = {"text": meta.pop("text"), "speech_start": start, "speech_end": end, **meta}
    meta["duration"] = round(len(pcm) / RATE, 3)
    Path(path).with_suffix(".json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return meta


def multiple_choice_text(question: str, options: list[str]) -> str:
    """A multiple-choice question as it is read aloud: the question, "Options:", then "A: ..." per line."""
    return "\n".join([question.strip(), "Options:"] + [f"{chr(65 + i)}: {o}" for i, o in enumerate(options)])
