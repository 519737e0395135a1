"""The arithmetic of `bench asr`, kept apart from models and files so it is unit-tested on its own.

A streaming run is recorded as a list of `Update`s (one per recognition pass, plus the final one of each
turn) and `End`s (each end-of-utterance decision). From those and the reference (text, true speech bounds,
annotated pauses) come commit lag, stability, end-of-utterance delay and false cut-offs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from voice_livemind.asr.words import Word, normalise
from voice_livemind.bench.report import percentile  # noqa: F401  (bench asr reads it as m.percentile)


@dataclass(frozen=True)
class Reference:
    text: str
    speech_start: float | None = None
    speech_end: float | None = None
    pauses: tuple[tuple[float, float], ...] = ()  # deliberate pauses inside the utterance, seconds


@dataclass(frozen=True)
class Update:
    """One transcript update as the pipeline emitted it."""

    turn: int
    t: float  # clock time of the update (FastForwardClock: audio time plus compute time spent so far)
    audio_pos: float  # input-stream time of the last sample the pass had heard
    committed: tuple[Word, ...]  # every committed word of the turn so far (absolute times)
    unstable: str
    compute_s: float
    final: bool = False


@dataclass(frozen=True)
class End:
    """One end-of-utterance decision."""

    turn: int
    t: float  # clock time at which it was taken
    decided_at: float  # input-stream time of the end of the frame that completed the hangover
    audio_t: float  # the VAD's estimate of where the speech ended
    reason: str = "vad"


@dataclass
class LagSample:
    word_end: float  # seconds in the audio
    lag_s: float  # clock time of the commit minus word_end (compute time counts)
    lag_audio_s: float  # audio heard at the commit minus word_end (compute is free)
    text: str = ""


# -- small statistics -------------------------------------------------------------------------------


def median(values) -> float | None:
    return percentile(values, 50)


def slope(xs, ys) -> float | None:
    """Least-squares slope of ys over xs; None with fewer than two distinct xs."""
    xs, ys = list(map(float, xs)), list(map(float, ys))
    if len(xs) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var


# -- transcripts -------------------------------------------------------------------------------------


def final_text(updates: list[Update]) -> str:
    """The streaming transcript: the final committed text of every turn, in order (a resumed turn has a
    final update per end, each holding the turn so far: the last one counts)."""
    from voice_livemind.asr.words import join_words

    finals = {u.turn: u for u in updates if u.final}
    return " ".join(t for t in (join_words(finals[turn].committed) for turn in sorted(finals)) if t).strip()


def word_count(text: str) -> int:
    return sum(1 for w in text.split() if normalise(w))


@lru_cache(maxsize=1)
def _whisper_normaliser():
    # The normaliser Whisper's authors score with (transformers' copy): numbers spelled out or in digits,
    # "$15" / "fifteen dollars", "won't" / "will not" are equal. Its British-to-American spelling table
    # ships with the hub's tokenizer files, which this machine cannot fetch: spellings stay as they are.
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    return EnglishTextNormalizer({})


def wer_normalise(text: str) -> str:
    """Whisper's English normaliser (casing, punctuation, numbers, currency, contractions), then the
    project's word form (hyphens split, leftover punctuation dropped): only the words count."""
    text = _whisper_normaliser()(text)
    return " ".join(n for n in (normalise(w) for w in text.replace("-", " ").split()) if n)


def corpus_wer(pairs: list[tuple[str, str]]) -> float | None:
    """Word error rate over all (reference, hypothesis) pairs with a non-empty reference, pooled (errors
    summed over files, divided by all reference words), via jiwer."""
    import jiwer

    kept = [(wer_normalise(r), wer_normalise(h)) for r, h in pairs if wer_normalise(r)]
    if not kept:
        return None
    return float(jiwer.wer([r for r, _ in kept], [h for _, h in kept]))


# -- commit lag and stability ------------------------------------------------------------------------


def commit_lags(updates: list[Update]) -> list[LagSample]:
    """For every committed word: when it was committed relative to its end in the audio."""
    samples: list[LagSample] = []
    seen: dict[int, int] = {}
    for u in updates:
        done = seen.get(u.turn, 0)
        for word in u.committed[done:]:
            samples.append(LagSample(word.end, u.t - word.end, u.audio_pos - word.end, word.text.strip()))
        seen[u.turn] = max(done, len(u.committed))
    return samples


def committed_revisions(updates: list[Update]) -> int:
    """Updates whose committed words are not an extension of the previous update's (same turn): words
    that were committed and later changed. LocalAgreement never does this; the benchmark checks it."""
    revisions = 0
    previous: dict[int, list[str]] = {}
    for u in updates:
        words = [normalise(w.text) for w in u.committed]
        before = previous.get(u.turn, [])
        if words[: len(before)] != before:
            revisions += 1
        previous[u.turn] = words
    return revisions


def unstable_changes(updates: list[Update]) -> tuple[int, int]:
    """(changed, total) over the unstable words of every non-final update: an unstable word changed when
    the next update of the same turn has a different word (or none) at its place in committed + unstable."""
    changed = total = 0
    by_turn: dict[int, list[Update]] = {}
    for u in updates:
        by_turn.setdefault(u.turn, []).append(u)
    for turn_updates in by_turn.values():
        for a, b in zip(turn_updates, turn_updates[1:]):
            unstable = [n for n in (normalise(w) for w in a.unstable.split()) if n]
            if not unstable:
                continue
            offset = sum(1 for w in a.committed if normalise(w.text))
            after = [n for n in (normalise(w.text) for w in b.committed) if n]
            after += [n for n in (normalise(w) for w in b.unstable.split()) if n]
            for i, word in enumerate(unstable):
                total += 1
                j = offset + i
                if j >= len(after) or after[j] != word:
                    changed += 1
    return changed, total


# -- end of utterance -------------------------------------------------------------------------------


@dataclass
class EndOfUtterance:
    delay_s: float | None = None  # clock time of the end decision minus the true speech end
    delay_audio_s: float | None = None  # the same in audio time (compute is free)
    reason: str | None = None
    false_cutoffs: list[dict] = field(default_factory=list)  # each: audio_t, decided_at, pause (or None)


def end_of_utterance(ends: list[End], reference: Reference, pause_slack_s: float = 0.3) -> EndOfUtterance:
    """Score the end decisions of one file against its true speech end.

    An end decided before the true speech end is a false cut-off: the user still had words to say. It is
    attributed to the annotated pause it fell in (its `audio_t`, the last speech heard, within
    `pause_slack_s` before the pause start and the pause end). The end-of-utterance delay is that of the
    first decision taken at or after the true speech end. An end forced by the end of the input (the file
    stops before the hangover could run out) measures nothing.
    """
    out = EndOfUtterance()
    if reference.speech_end is None:
        return out
    for end in ends:
        if end.reason == "end_of_input":
            continue
        if end.decided_at < reference.speech_end:
            pause = next((list(p) for p in reference.pauses if p[0] - pause_slack_s <= end.audio_t <= p[1]), None)
            out.false_cutoffs.append({"audio_t": round(end.audio_t, 3), "decided_at": round(end.decided_at, 3),
                                      "pause": pause, "pause_s": round(pause[1] - pause[0], 3) if pause else None})
        elif out.delay_s is None:
            out.delay_s = end.t - reference.speech_end
            out.delay_audio_s = end.decided_at - reference.speech_end
            out.reason = end.reason
    return out


# -- notes while listening (--mode livemind) --------------------------------------------------------


def note_coverage(events: list, speech_end: float | None) -> dict:
    """Notes and their coverage at the end of speech, summed over the turns of one file (see
    metrics.note_coverage). A turn's end of speech is its `SpeechEnded.audio_t`, except the last turn's,
    which is the true `speech_end` when the sidecar gives it (an earlier turn is a cut-off in a pause)."""
    from voice_livemind import events as ev
    from voice_livemind.metrics import note_coverage as turn_coverage

    ended = {}
    for e in events:
        if isinstance(e, ev.SpeechEnded):
            ended.setdefault(e.turn, e.audio_t)
    closed = noted = 0
    for turn, audio_t in ended.items():
        end = speech_end if (speech_end is not None and turn == max(ended)) else audio_t
        c, n = turn_coverage(events, turn, end)
        closed, noted = closed + c, noted + n
    return {"notes": sum(1 for e in events if isinstance(e, ev.Note)),
            "notes_yielded": sum(1 for e in events if isinstance(e, ev.NoteYielded)),
            "segments_closed": closed, "segments_noted": noted,
            "note_coverage": round(noted / closed, 3) if closed else None}
