"""Regenerate the audio fixtures in audio_fixtures/ (run: .venv/bin/python scripts/make_fixtures.py).

Every fixture is a 16 kHz mono 16-bit WAV with a JSON sidecar of the same name holding the text, the
measured speech_start / speech_end (seconds; see speech_bounds) and the source.

- Synthesized clips use the Piper voice en_US-joe-medium with noise_scale = noise_w_scale = 0: the voice
  model draws its noise inside the ONNX graph from an unseeded generator, so any other setting gives
  different audio on every run. Each text line is synthesized on its own (Piper ignores newlines) and
  every sentence chunk is followed by SENTENCE_GAP of silence; clips get LEAD / TRAIL digital silence.
- Real speech is copied from ../shared/data/speech (SpeechBrain test samples, Apache-2.0), unpadded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voice_livemind.models import resolve_packaged  # noqa: E402

OUT = ROOT / "audio_fixtures"
DATA = ROOT.parent / "shared" / "data"  # the shared data folder beside the checkout
VOICE = "en_US-joe-medium"
RATE = 16000
LEAD, TRAIL, SENTENCE_GAP = 0.5, 1.5, 0.2  # seconds
THRESHOLD_DBFS, RELATIVE_DB = -40.0, 35.0

TEXTS = {
    "short_question": "What is the capital of France?",
    "multi_sentence": (
        "I'm planning a trip to Japan next spring. I have ten days, and I love hiking and good food. "
        "I don't want to spend much time on trains. Which two cities should I stay in?"
    ),
    "long_question": (
        "A farmer has a rectangular field that is 120 meters long and 80 meters wide. "
        "He wants to build a fence around the whole field. "
        "He also wants one more fence across the middle, parallel to the short sides, to split the field "
        "into two equal halves. Fencing costs 15 dollars per meter, and each gate costs 200 dollars. "
        "He needs two gates in the outer fence, one for each half, and each gate replaces two meters of fencing. "
        "How much will the fencing and the gates cost in total?"
    ),
}


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


def write_fixture(name: str, audio: np.ndarray, meta: dict) -> dict:
    """Write NAME.wav (int16) and NAME.json; the bounds are measured on the int16 audio as written."""
    pcm = np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)  # exact for int16 input
    sf.write(OUT / f"{name}.wav", pcm, RATE, subtype="PCM_16")
    start, end = speech_bounds(pcm / 32768.0)
    meta = {"text": meta.pop("text"), "speech_start": start, "speech_end": end, **meta}
    meta["duration"] = round(len(pcm) / RATE, 3)
    (OUT / f"{name}.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return meta


def synthesize(voice, text: str) -> np.ndarray:
    """Piper speech for TEXT at 16 kHz (float32), padded with LEAD and TRAIL seconds of silence."""
    from piper import SynthesisConfig

    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=1.0)
    gap = np.zeros(int(SENTENCE_GAP * voice.config.sample_rate), np.float32)
    parts = []
    for line in filter(None, (s.strip() for s in text.split("\n"))):
        for chunk in voice.synthesize(line, syn_config=config):
            parts += [chunk.audio_float_array, gap]
    speech = soxr.resample(np.concatenate(parts[:-1]), voice.config.sample_rate, RATE)
    return np.concatenate([np.zeros(int(LEAD * RATE), np.float32), speech, np.zeros(int(TRAIL * RATE), np.float32)])


def mmlu_question() -> tuple[str, dict]:
    """The MMLU-Pro validation question with the shortest question + options, without 'N/A' padding."""
    rows = json.loads((DATA / "mmlu_pro_validation.json").read_text())
    rows = [r for r in rows if "N/A" not in r["options"]]
    row = min(rows, key=lambda r: (len(r["question"]) + sum(map(len, r["options"])), r["question_id"]))
    lines = [row["question"].strip(), "Options:"] + [f"{chr(65 + i)}: {o}" for i, o in enumerate(row["options"])]
    extra = {"answer": row["answer"], "question_id": row["question_id"], "category": row["category"],
             "dataset": "TIGER-Lab/MMLU-Pro validation (MIT)"}
    return "\n".join(lines), extra


def make_synthetic() -> list[tuple[str, dict]]:
    from piper import PiperVoice

    voice = PiperVoice.load(resolve_packaged(VOICE, fetch=False))
    mmlu_text, mmlu_extra = mmlu_question()
    jobs = [(name, text, {}) for name, text in TEXTS.items()] + [("mmlu_choice", mmlu_text, mmlu_extra)]
    made = []
    for name, text, extra in jobs:
        meta = {"text": text, "source": f"piper:{VOICE}", **extra}
        made.append((name, write_fixture(name, synthesize(voice, text), meta)))
    return made


def make_real() -> list[tuple[str, dict]]:
    made = []
    for path in sorted((DATA / "speech").glob("example*.*")):
        if path.suffix == ".json":
            continue
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)
        if rate != RATE:
            audio = soxr.resample(audio, rate, RATE)
        text = json.loads(path.with_suffix(".json").read_text())["text"]
        meta = {"text": text, "source": "speechbrain test sample (Apache-2.0)", "original": path.name}
        made.append((f"real_{path.stem}", write_fixture(f"real_{path.stem}", audio, meta)))
    return made


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, meta in make_synthetic() + make_real():
        print(f"{name:16s} {meta['duration']:6.2f} s  speech {meta['speech_start']:.3f}-{meta['speech_end']:.3f} s")


if __name__ == "__main__":
    main()
