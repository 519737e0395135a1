"""Prompt layouts. The wording lives in the config (livemind.prompts); this module only arranges it.

The paper's five layouts (the authors' code names in brackets):
- single [u-pi]: one user message, the incomplete prompt and the numbered previous inferences (the paper's
  text-benchmark layout);
- u-pli: one user message, "Previous prompt" (what the notes covered), "New prompt", "Previous inferences";
- u-spi: one user message, "Prompt: ... Inference: ..." in sequence, the new prompt last;
- ua-pil: the earlier prompt as one user turn, every note as one assistant turn, the new prompt as a user turn;
- multi_turn [ua-spi]: segments as user turns, notes as assistant turns (the layout of the paper's demo).
Segments answered with "wait" carry no note: they fold into the next prompt, as in the authors' code.
The output stage gets the same layout with the final segments as the new prompt.
"""

from __future__ import annotations

from voice_livemind.livemind.memory import Entry
from voice_livemind.livemind.options import answer_start, option_letters  # noqa: F401 (callers use prompts.*)
from voice_livemind.llm.base import Message

LAYOUTS = ("single", "u-pli", "u-spi", "ua-pil", "multi_turn")
FINISHED = "(The user has finished speaking.)"  # ends the last user turn of a multi-turn answer prompt

# In the multi-turn layout every earlier assistant turn starts "action ...": a small model answering at the
# end of that conversation imitates it ("action inference. I'm glad to hear that."). After the notes it also
# apologised first ("I'm sorry for any confusion. The capital of France is Paris."): a sentence spoken
# before the answer. Answers may not start so (applied to every mode alike).
NOT_AN_ANSWER_START = ("action", " action", "Action", "I", " I")

def _numbered(notes: list[str]) -> str:
    return "\n".join(f"({i}) {note}" for i, note in enumerate(notes, 1)) if notes else "(none yet)"


def _notes(entries: list[Entry]) -> list[str]:
    return [e.text for e in entries if e.action != "wait" and e.text]


def _reply(entry: Entry) -> str:
    return f"action {entry.action}. {entry.text}".strip()


def _history_turns(entries: list[Entry]) -> tuple[list[Message], list[str]]:
    """User/assistant turns for the entries, and the segments of trailing waits not yet shown."""
    turns: list[Message] = []
    carried: list[str] = []
    for entry in entries:
        carried += entry.segments
        if entry.action == "wait":
            continue
        turns += [{"role": "user", "content": " ".join(carried)}, {"role": "assistant", "content": _reply(entry)}]
        carried = []
    return turns, carried


def _split_at_last_note(entries: list[Entry]) -> tuple[list[str], list[str]]:
    """(segments up to the last entry with a note, the segments of the trailing waits after it)."""
    last = max((i for i, e in enumerate(entries) if e.action != "wait" and e.text), default=-1)
    return ([s for e in entries[: last + 1] for s in e.segments],
            [s for e in entries[last + 1 :] for s in e.segments])


def _layout_turns(layout: str, entries: list[Entry], new: list[str]) -> list[Message]:
    """The user (and assistant) turns of `layout` for the memory `entries` and the `new` segments after them."""
    if layout == "multi_turn":  # ua-spi
        turns, carried = _history_turns(entries)
        return [*turns, {"role": "user", "content": " ".join(carried + new)}]
    if layout == "u-spi":
        turns, carried = _history_turns(entries)
        parts = [f"Prompt: {t['content']}" if t["role"] == "user" else f"Inference: {_note_of(t['content'])}"
                 for t in turns]
        return [{"role": "user", "content": "\n".join(parts + [f"Prompt: {' '.join(carried + new)}"])}]
    old, waited = _split_at_last_note(entries)
    notes = _notes(entries)
    if layout == "u-pli":
        lines = ([f"Previous prompt: {' '.join(old)}"] if old else []) + [f"New prompt: {' '.join(waited + new)}"]
        if notes:
            lines.append("Previous inferences: " + " ".join(f"({i}) {n}" for i, n in enumerate(notes, 1)))
        return [{"role": "user", "content": "\n".join(lines)}]
    if layout == "ua-pil":
        if not old:
            return [{"role": "user", "content": " ".join(waited + new)}]
        return [{"role": "user", "content": " ".join(old)}, {"role": "assistant", "content": " ".join(notes)},
                {"role": "user", "content": " ".join(waited + new)}]
    raise ValueError(f"unknown livemind.layout {layout!r} (one of {', '.join(LAYOUTS)})")


def _note_of(reply: str) -> str:
    return reply.split(". ", 1)[1] if reply.startswith("action ") and ". " in reply else reply


def inference_messages(layout: str, system: str, entries: list[Entry], segments: list[str]) -> list[Message]:
    """The inference model's prompt: all segments so far (`segments`), of which the memory covers a prefix."""
    if layout == "single":
        user = f"Incomplete prompt: {' '.join(segments)}\n\nPrevious inferences:\n{_numbered(_notes(entries))}"
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]
    covered = sum(len(e.segments) for e in entries)
    return [{"role": "system", "content": system}, *_layout_turns(layout, entries, segments[covered:])]


def multi_turn_system(inference_system: str, answer_system: str) -> str:
    """The multi-turn layout's one system prompt, for the notes and the answer alike: the answer rule is
    in it, so the answer prompt adds only the user's last words and FINISHED after the cached notes."""
    return f"{inference_system}\n\nOnce the user's message ends with \"{FINISHED}\": {answer_system}"


def answer_messages(layout: str, system: str, entries: list[Entry], segments: list[str],
                    inference_system: str = "") -> list[Message]:
    """The output model's prompt once the input has ended: every segment (the last one included) + notes.

    In the multi-turn layout the answer prompt continues the notes conversation word for word (its system
    prompt, `multi_turn_system`, holds the answer rule too, then the turns); only the final segments and
    FINISHED come last, so a model that wrote the notes already holds the key/value cache of the rest.
    The other layouts put the output system prompt `system` before the layout's turns.
    """
    if layout == "single":
        transcript, notes = " ".join(segments), _notes(entries)
        user = f"{transcript}\n\nNotes made while listening:\n{_numbered(notes)}" if notes else transcript
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]
    covered = sum(len(e.segments) for e in entries)
    turns = _layout_turns(layout, entries, segments[covered:])
    if layout != "multi_turn":
        return [{"role": "system", "content": system}, *turns]
    last = turns[-1]
    return [{"role": "system", "content": inference_system}, *turns[:-1],
            {"role": "user", "content": f"{last['content']} {FINISHED}"}]


def has_notes(entries: list[Entry]) -> bool:
    return bool(_notes(entries))


def baseline_messages(system: str, transcript: str) -> list[Message]:
    return [{"role": "system", "content": system}, {"role": "user", "content": transcript}]

