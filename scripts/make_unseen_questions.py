"""Spoken questions in a voice the project is not tuned to (espeak-ng, not Piper), for an honest check of
`bench voice` beside the default set: open questions and two multiple-choice questions, phrased freely.

Run: apt-get install espeak-ng; .venv/bin/python scripts/make_unseen_questions.py [--out runs/unseen]
Each NAME.wav (16 kHz) gets NAME.json with its text and true speech end (from the audio's energy), so
latencies are measured from the real end of speech.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voice_livemind.audio.source import to_mono_16k  # noqa: E402

# (name, espeak voice, words per minute, text, correct letter or None)
QUESTIONS = [
    ("open_bread", "en-us", 150, "My bread never rises properly. I use fresh yeast and a warm kitchen. "
     "What could I be doing wrong?", None),
    ("open_commute", "en-gb", 160, "I cycle to work every day, about twelve kilometres each way. "
     "In winter it gets dark early. How can I stay safe on the road?", None),
    ("open_plants", "en-us+f3", 145, "So, I have a small balcony that faces north. "
     "Which herbs would actually grow there?", None),
    ("choice_planet", "en-gb+m3", 150, "Quick quiz. Which planet is closest to the sun? "
     "Option A, Venus. Option B, Mercury. Option C, Mars. Option D, Earth.", "B"),
    ("choice_water", "en-us+m2", 155, "Here is a science question. At sea level, water boils at which temperature? "
     "A: fifty degrees Celsius. B: seventy degrees Celsius. C: one hundred degrees Celsius.", "C"),
]


def speech_bounds(samples: np.ndarray, rate: int = 16000, frame_s: float = 0.01, floor: float = 0.01):
    """(start, end) of the part louder than `floor` RMS, in seconds."""
    hop = int(rate * frame_s)
    frames = samples[: len(samples) // hop * hop].reshape(-1, hop)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > floor)
    return float(loud[0] * frame_s), float((loud[-1] + 1) * frame_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/unseen")
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not installed: apt-get install espeak-ng")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, voice, wpm, text, answer in QUESTIONS:
        with tempfile.NamedTemporaryFile(suffix=".wav") as raw:
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", raw.name, text], check=True)
            samples, rate = soundfile.read(raw.name, dtype="float32", always_2d=True)
        speech = to_mono_16k(samples, rate)
        audio = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(32000, np.float32)])  # 0.5 s, 2 s
        start, end = speech_bounds(audio)
        soundfile.write(out / f"{name}.wav", audio, 16000, subtype="PCM_16")
        sidecar = {"text": text, "speech_start": round(start, 3), "speech_end": round(end, 3)}
        if answer:
            sidecar["answer"] = answer
        (out / f"{name}.json").write_text(json.dumps(sidecar, indent=1) + "\n")
        print(out / f"{name}.wav")


if __name__ == "__main__":
    main()
