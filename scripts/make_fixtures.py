"""Regenerate the audio fixtures in audio_fixtures/ (run: .venv/bin/python scripts/make_fixtures.py).

Every fixture is a 16 kHz mono 16-bit WAV with a JSON sidecar of the same name holding the text, the
measured speech_start / speech_end (seconds; see speech_bounds) and the source.

- Synthesized clips use the Piper voice en_US-joe-medium with noise_scale = noise_w_scale = 0: the voice
  model draws its noise inside the ONNX graph from an unseeded generator, so any other setting gives
  different audio on every run. Each text line is synthesized on its own (Piper ignores newlines) and
  every sentence chunk is followed by SENTENCE_GAP of silence; clips get LEAD / TRAIL digital silence.
- Real speech is copied from ../shared/data/speech (SpeechBrain test samples, Apache-2.0), unpadded.
- Hard cases for the ASR benchmark (`voice-livemind bench asr`): pauses inside sentences (the sidecar lists
  them as `pauses`, measured like the speech bounds), `multi_sentence` with pink noise mixed at 20 and 10 dB
  SNR (speech power measured over its speech part), a ~60 s monologue with normal sentence gaps only, and
  10 s of digital silence and of pink noise (sidecar text ""). Noise comes from a seeded numpy generator.
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

from voice_livemind.audio.pcm import from_int16, to_int16  # noqa: E402
from voice_livemind.audio.synth import (  # noqa: E402
    LEAD, RATE, SENTENCE_GAP, TRAIL, multiple_choice_text, piper_16k, speech_bounds, synthesize, write_clip)
from voice_livemind.models import resolve_packaged  # noqa: E402

OUT = ROOT / "audio_fixtures"
DATA = ROOT.parent / "shared" / "data"  # the shared data folder beside the checkout
VOICE = "en_US-joe-medium"

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


# Sentences with pauses inside them: (fragment, pause after it in ms). None: a normal sentence gap.
PAUSED = [
    ("I would like to order a large pizza with", 400), ("mushrooms and", 700), ("black olives,", 300),
    ("and a bottle of", 550), ("lemonade.", None),
    ("Please deliver it to", 800), ("the blue house on", 450), ("Maple Street", 650), ("before eight o'clock.", None),
]
MONOLOGUE = (
    "Let me tell you about the garden I started last year. I had never grown anything before, so I began "
    "with a small plot behind the house. The soil was hard and full of stones, and it took two weekends just "
    "to dig it over. I added compost from a local farm and planted tomatoes, beans, lettuce and a few rows of "
    "carrots. For the first month nothing seemed to happen. Then, after a week of warm rain, everything came "
    "up at once. The beans climbed faster than I could build supports for them, and the lettuce was ready "
    "before I knew what to do with it. The tomatoes were the hardest part. They needed water every evening, "
    "and a late storm broke two of the plants in half. Still, by the end of the summer I had more than I "
    "could eat. This year I want to try potatoes and onions, and maybe a small apple tree in the corner. "
    "I will start the seeds indoors in March, on the kitchen windowsill, and move them outside in May. I also "
    "plan to keep a notebook of what I plant and when, so that I can learn from my mistakes. Gardening has "
    "taught me to be patient, and I think that is the best thing it has given me."
)
NOISY_SOURCE, NOISY_SNRS_DB, NOISE_SEED = "multi_sentence", (20, 10), 20261125
EMPTY_SECONDS = 10.0


def synthesize_with_pauses(voice, fragments: list[tuple[str, int | None]]) -> tuple[np.ndarray, list[list[float]]]:
    """Fragments synthesized one by one and joined so that the measured silence between the speech of two
    fragments is the requested pause (a normal SENTENCE_GAP after None); returns the audio (with LEAD and
    TRAIL) and the pause intervals [start, end] in seconds of the file."""
    parts, pauses = [np.zeros(int(LEAD * RATE), np.float32)], []
    position = parts[0].shape[0]
    pieces = [piper_16k(voice, text) for text, _ in fragments]
    for i, (piece, (_, pause_ms)) in enumerate(zip(pieces, fragments)):
        parts.append(piece)
        position += piece.shape[0]
        if i == len(pieces) - 1:
            break
        _, end = speech_bounds(piece)
        start_next, _ = speech_bounds(pieces[i + 1])
        quiet = piece.shape[0] / RATE - end + start_next  # silence Piper put around the two fragments
        wanted = SENTENCE_GAP + quiet if pause_ms is None else pause_ms / 1000
        gap = np.zeros(max(0, int(round((wanted - quiet) * RATE))), np.float32)
        if pause_ms is not None:
            pause_start = position / RATE - (piece.shape[0] / RATE - end)
            pauses.append([round(pause_start, 3), round(pause_start + quiet + gap.shape[0] / RATE, 3)])
        parts.append(gap)
        position += gap.shape[0]
    parts.append(np.zeros(int(TRAIL * RATE), np.float32))
    return np.concatenate(parts), pauses


def pink_noise(n: int, seed: int) -> np.ndarray:
    """Pink (1/f power) noise with unit RMS from a seeded generator: white noise shaped in the frequency
    domain."""
    white = np.random.default_rng(seed).standard_normal(n)
    spectrum = np.fft.rfft(white)
    spectrum[1:] /= np.sqrt(np.arange(1, spectrum.shape[0]))
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n)
    return noise / np.sqrt(np.mean(noise**2))


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float, bounds: tuple[float, float]) -> np.ndarray:
    """speech + noise scaled so that the speech power over its speech part (bounds, seconds) is snr_db above
    the noise power."""
    start, end = (int(round(b * RATE)) for b in bounds)
    speech_power = np.mean(speech[start:end].astype(np.float64) ** 2)
    scale = np.sqrt(speech_power / 10 ** (snr_db / 10) / np.mean(noise.astype(np.float64) ** 2))
    return (speech + scale * noise).astype(np.float32)


def mmlu_question() -> tuple[str, dict]:
    """The MMLU-Pro validation question with the shortest question + options, without 'N/A' padding."""
    rows = json.loads((DATA / "mmlu_pro_validation.json").read_text())
    rows = [r for r in rows if "N/A" not in r["options"]]
    row = min(rows, key=lambda r: (len(r["question"]) + sum(map(len, r["options"])), r["question_id"]))
    extra = {"answer": row["answer"], "question_id": row["question_id"], "category": row["category"],
             "dataset": "TIGER-Lab/MMLU-Pro validation (MIT)"}
    return multiple_choice_text(row["question"], row["options"]), extra


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


def make_hard_cases() -> list[tuple[str, dict]]:
    """The benchmark's hard cases; the existing fixtures above are left exactly as they were."""
    from piper import PiperVoice

    voice = PiperVoice.load(resolve_packaged(VOICE, fetch=False))
    source = f"piper:{VOICE}"
    made = []
    audio, pauses = synthesize_with_pauses(voice, PAUSED)
    text = " ".join(fragment for fragment, _ in PAUSED)
    made.append(("pauses", write_fixture("pauses", audio, {"text": text, "source": source, "pauses": pauses})))
    made.append(("monologue_60s", write_fixture("monologue_60s", synthesize(voice, MONOLOGUE),
                                                {"text": MONOLOGUE, "source": source})))

    clean = synthesize(voice, TEXTS[NOISY_SOURCE])
    bounds = speech_bounds(from_int16(to_int16(clean)))  # the bounds as the clean fixture has them (int16)
    noise = pink_noise(clean.shape[0], NOISE_SEED)
    for snr in NOISY_SNRS_DB:
        name = f"noisy_snr{snr}"
        meta = {"text": TEXTS[NOISY_SOURCE], "source": f"{source} + pink noise (seed {NOISE_SEED})", "snr_db": snr}
        made.append((name, write_fixture(name, mix_at_snr(clean, noise, snr, bounds), meta, bounds)))

    n = int(EMPTY_SECONDS * RATE)
    made.append(("silence_10s", write_fixture("silence_10s", np.zeros(n, np.float32),
                                              {"text": "", "source": "digital silence"})))
    # The noise alone, at the level it has in the 10 dB mix.
    start, end = (int(round(b * RATE)) for b in bounds)
    level = np.sqrt(np.mean(clean[start:end].astype(np.float64) ** 2) / 10 ** (min(NOISY_SNRS_DB) / 10))
    noise_only = (level * pink_noise(n, NOISE_SEED + 1)).astype(np.float32)
    made.append(("noise_10s", write_fixture("noise_10s", noise_only,
                                            {"text": "", "source": f"pink noise (seed {NOISE_SEED + 1})",
                                             "rms_dbfs": round(float(20 * np.log10(level)), 1)})))
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


def write_fixture(name: str, audio: np.ndarray, meta: dict, bounds: tuple[float, float] | None = None) -> dict:
    return write_clip(OUT / f"{name}.wav", audio, meta, bounds)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, meta in make_synthetic() + make_real() + make_hard_cases():
        bounds = f"speech {meta['speech_start']:.3f}-{meta['speech_end']:.3f} s" if meta["text"] else "no speech"
        print(f"{name:16s} {meta['duration']:6.2f} s  {bounds}")


if __name__ == "__main__":
    main()
