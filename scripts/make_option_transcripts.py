"""Real Whisper transcripts of spoken multiple-choice questions, for testing option-letter detection.

Eight MMLU-Pro questions (the shipped validation split) are read with their options in eight common
phrasings ("Option A: ...", "A. ...", "A) ...", "(A) ...", "Answer A is ...", "Choice A, ...", "The choices
are A, ...; B, ...", and the project's own "Options:" list) by five voices (the packaged Piper voice and four
espeak-ng voices), and transcribed with the project's Whisper backend (packaged tiny.en, int8, CPU) offline
(the whole clip in one call) and, for the voices named by --stream-voices, also through StreamingASR (0.5 s
chunks, a pass whenever one is due, then `finish`: its final text, as the pipeline gets it). Negative
examples: the open questions among the audio fixtures and of scripts/make_unseen_questions.py, transcribed
the same way (offline).

Run: .venv/bin/python scripts/make_option_transcripts.py [--stream-voices piper-joe,espeak-en-gb] [--out FILE]
Needs espeak-ng (apt-get install espeak-ng). Only text is written; the audio is synthesized in memory.
On two cores: ~3 min offline, and 40-100 s per streamed item (the default streams two voices: 10-25 min more).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voice_livemind.audio.source import to_mono_16k  # noqa: E402
from voice_livemind.audio.synth import load_voice, synthesize  # noqa: E402
from voice_livemind.bench.common import load_questions  # noqa: E402
from voice_livemind.config import ASRConfig  # noqa: E402

LETTERS = "ABCDEFGHIJ"
QUESTION_IDS = ["5", "13", "17", "32", "49", "54", "58", "68"]  # short ones, eight categories, no LaTeX


def _options(options: list[str], fmt: str, sep: str = "\n") -> str:
    return sep.join(fmt.format(letter=LETTERS[i], option=o.rstrip(".")) for i, o in enumerate(options))


# phrasing -> the text a voice reads (lines are read as separate sentences by Piper)
PHRASINGS = {
    "options_colon": lambda q, o: q + "\nOptions:\n" + _options(o, "{letter}: {option}"),  # the project's own
    "option_word": lambda q, o: q + "\n" + _options(o, "Option {letter}: {option}."),
    "letter_period": lambda q, o: q + "\n" + _options(o, "{letter}. {option}."),
    "letter_paren": lambda q, o: q + "\n" + _options(o, "{letter}) {option}."),
    "paren_letter": lambda q, o: q + "\n" + _options(o, "({letter}) {option}."),
    "answer_word": lambda q, o: q + "\n" + _options(o, "Answer {letter} is {option}."),
    "choice_word": lambda q, o: q + "\n" + _options(o, "Choice {letter}, {option}."),
    "choices_are": lambda q, o: q + "\nThe choices are " + _options(o, "{letter}, {option}", "; ") + ".",
}

# name -> (espeak-ng voice, words per minute), or None for the packaged Piper voice
VOICES = {
    "piper-joe": None,
    "espeak-en-us": ("en-us", 160),
    "espeak-en-gb": ("en-gb", 150),
    "espeak-en-us+f3": ("en-us+f3", 150),
    "espeak-en-gb-scotland+m3": ("en-gb-scotland+m3", 155),
}

# Open questions (no option list): negatives. Fixture files, and the unseen set's espeak texts.
OPEN_FIXTURES = ["short_question", "long_question", "multi_sentence", "pauses", "monologue_60s", "real_example1",
                 "real_example2", "real_example5", "real_example6", "noisy_snr10"]


def espeak(voice: str, wpm: int, text: str) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".wav") as raw:
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", raw.name, text], check=True)
        samples, rate = soundfile.read(raw.name, dtype="float32", always_2d=True)
    speech = to_mono_16k(samples, rate)
    return np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(24000, np.float32)])


class Transcriber:
    def __init__(self) -> None:
        from voice_livemind.asr.whisper_backend import FasterWhisperBackend

        self.config = replace(ASRConfig(), device="cpu", compute_type="int8")
        self.backend = FasterWhisperBackend(self.config)

    def offline(self, audio: np.ndarray) -> str:
        from voice_livemind.asr.words import join_words

        return join_words(self.backend.transcribe(audio, ""))

    def stream(self, audio: np.ndarray) -> str:
        from voice_livemind.asr.streaming import StreamingASR

        asr = StreamingASR(self.backend, self.config)
        asr.reset(0.0)
        for start in range(0, len(audio), 8000):  # 0.5 s chunks
            asr.append(audio[start : start + 8000])
            if asr.due():
                asr.step()
        return asr.finish().stable

    def __call__(self, audio: np.ndarray, streaming: bool = False) -> dict:
        out = {"offline": self.offline(audio)}
        if streaming:
            out["streaming"] = self.stream(audio)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "tests/data/option_transcripts.json"))
    parser.add_argument("--stream-voices", default="piper-joe,espeak-en-gb",
                        help="comma-separated voices whose items are also transcribed by StreamingASR ('' for none)")
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not installed: apt-get install espeak-ng")
    by_id = {q.qid: q for q in load_questions(None)}
    questions = [by_id[qid] for qid in QUESTION_IDS]
    streamed = set(filter(None, args.stream_voices.split(",")))
    transcribe = Transcriber()
    piper = load_voice()
    items, negatives = [], []
    began = time.monotonic()
    for p, (phrasing, make_text) in enumerate(PHRASINGS.items()):
        for v, (voice_name, espeak_voice) in enumerate(VOICES.items()):
            q = questions[(p + v) % len(questions)]  # every phrasing meets several questions
            text = make_text(q.question.strip(), list(q.options))
            audio = synthesize(piper, text) if espeak_voice is None else espeak(*espeak_voice, text)
            item = {"id": f"{phrasing}/{voice_name}", "voice": voice_name, "phrasing": phrasing,
                    "question_id": q.qid, "letters": LETTERS[: len(q.options)], "text": text,
                    "audio_s": round(len(audio) / 16000, 2), **transcribe(audio, voice_name in streamed)}
            items.append(item)
            print(f"{time.monotonic() - began:6.0f}s {item['id']}: {item['offline'][:100]!r}", flush=True)
    # The two multiple-choice questions of the unseen set, as that script reads them.
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_unseen_questions import QUESTIONS as UNSEEN  # noqa: E402

    for name, voice, wpm, text, answer in UNSEEN:
        audio = espeak(voice, wpm, text)
        if answer:
            count = 4 if "Option D" in text else 3
            items.append({"id": f"unseen/{name}", "voice": f"espeak-{voice}", "phrasing": "unseen_set",
                          "question_id": None, "letters": LETTERS[:count], "text": text,
                          "audio_s": round(len(audio) / 16000, 2), **transcribe(audio)})
        else:
            negatives.append({"id": f"unseen/{name}", "voice": f"espeak-{voice}", "text": text, **transcribe(audio)})
    for name in OPEN_FIXTURES:
        wav = ROOT / "audio_fixtures" / f"{name}.wav"
        samples, rate = soundfile.read(str(wav), dtype="float32", always_2d=True)
        meta = json.loads(wav.with_suffix(".json").read_text())
        negatives.append({"id": f"fixture/{name}", "voice": meta.get("source", "piper"), "text": meta["text"],
                          **transcribe(to_mono_16k(samples, rate))})
    wav = ROOT / "audio_fixtures" / "mmlu_choice.wav"
    samples, rate = soundfile.read(str(wav), dtype="float32", always_2d=True)
    meta = json.loads(wav.with_suffix(".json").read_text())
    items.append({"id": "fixture/mmlu_choice", "voice": "piper-joe", "phrasing": "options_colon",
                  "question_id": "32", "letters": LETTERS[: meta["text"].count("\n") - 1], "text": meta["text"],
                  "audio_s": round(len(samples) / rate, 2), **transcribe(to_mono_16k(samples, rate))})
    corpus = {
        "about": "Whisper transcripts (packaged tiny.en, int8, beam 1) of spoken multiple-choice questions in "
                 "several voices and phrasings, and of open questions (negatives). Made by "
                 "scripts/make_option_transcripts.py; `letters` are the options read aloud.",
        "items": items,
        "negatives": negatives,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(corpus, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(items)} items, {len(negatives)} negatives -> {args.out} ({time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()
