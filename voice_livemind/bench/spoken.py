"""Spoken MMLU-Pro questions for the voice benchmark: each question read aloud, then its options.

Made with the same deterministic Piper settings as the fixtures (voice_livemind.audio.synth), from the
shipped validation split. Per category the shortest questions come first, so a small set stays short to
replay and still covers every category.
"""

from __future__ import annotations

from pathlib import Path

from voice_livemind.audio.synth import load_voice, multiple_choice_text, synthesize, write_clip
from voice_livemind.bench.common import Question, load_questions


def pick(questions: list[Question], count: int) -> list[Question]:
    """`count` questions, round-robin over categories, shortest first within each; no 'N/A' padding options
    (Piper reads them as 'N slash A')."""
    by_category: dict[str, list[Question]] = {}
    for q in questions:
        if "N/A" not in q.options:
            by_category.setdefault(q.category, []).append(q)
    for group in by_category.values():
        group.sort(key=lambda q: (len(q.question) + sum(map(len, q.options)), q.qid))
    picked: list[Question] = []
    while len(picked) < count and any(by_category.values()):
        for group in by_category.values():
            if group and len(picked) < count:
                picked.append(group.pop(0))
    return picked


def spoken_mmlu(out_dir: str | Path, count: int, voice_location: str = "packaged:en_US-joe-medium") -> list[Path]:
    """Write `count` spoken questions into `out_dir` (kept: an existing clip is not synthesized again)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    voice = None
    paths = []
    for q in pick(load_questions(None), count):
        path = out / f"mmlu_{q.category.replace(' ', '_')}_{q.qid}.wav"
        if not (path.exists() and path.with_suffix(".json").exists()):
            voice = voice or load_voice(voice_location)
            text = multiple_choice_text(q.question, list(q.options))
            meta = {"text": text, "source": f"piper:{voice_location}", "answer": q.answer, "question_id": q.qid,
                    "category": q.category, "dataset": "TIGER-Lab/MMLU-Pro validation (MIT)"}
            write_clip(path, synthesize(voice, text), meta)
        paths.append(path)
    return paths
