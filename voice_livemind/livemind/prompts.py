"""Prompt layouts. The wording lives in the config (livemind.prompts); this module only arranges it.

Single-message layout (the paper's default for its text benchmark): one user message holding the
incomplete prompt and the numbered previous inferences.
"""

from __future__ import annotations

from voice_livemind.llm.base import Message


def _numbered(notes: list[str]) -> str:
    return "\n".join(f"({i}) {note}" for i, note in enumerate(notes, 1)) if notes else "(none yet)"


def inference_messages(system: str, segments: list[str], notes: list[str]) -> list[Message]:
    user = f"Incomplete prompt: {' '.join(segments)}\n\nPrevious inferences:\n{_numbered(notes)}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def answer_messages(system: str, transcript: str, notes: list[str]) -> list[Message]:
    user = f"{transcript}\n\nNotes made while listening:\n{_numbered(notes)}" if notes else transcript
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def baseline_messages(system: str, transcript: str) -> list[Message]:
    return [{"role": "system", "content": system}, {"role": "user", "content": transcript}]
