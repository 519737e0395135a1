"""StreamingASR with a scripted backend: pass timing, stable/unstable text, trimming, finish."""

from dataclasses import replace

import numpy as np
import pytest

from voice_livemind.asr import StreamingASR, Word
from voice_livemind.config import ASRConfig

SR = 16000


class ScriptedBackend:
    """Returns predefined hypotheses in order (word times relative to the audio it is given) and records
    the length of the audio and the prompt of every call."""

    def __init__(self, *hypotheses: list[tuple[float, float, str]]):
        self.hypotheses = list(hypotheses)
        self.calls: list[tuple[float, str]] = []

    def transcribe(self, audio: np.ndarray, prompt: str, window_s: float = 30.0) -> list[Word]:
        assert audio.dtype == np.float32
        self.calls.append((audio.shape[0] / SR, prompt))
        return [Word(*w) for w in self.hypotheses.pop(0)]


def seconds(s: float) -> np.ndarray:
    return np.zeros(int(round(s * SR)), dtype=np.float32)


def make(*hypotheses, **overrides) -> tuple[StreamingASR, ScriptedBackend]:
    backend = ScriptedBackend(*hypotheses)
    return StreamingASR(backend, replace(ASRConfig(), **overrides)), backend


def test_due_after_interval_of_new_audio():
    asr, _ = make([], interval_s=1.0)
    asr.reset(10.0)
    asr.append(seconds(0.5))
    assert not asr.due()
    asr.append(seconds(0.5))
    assert asr.due()
    asr.step()
    assert not asr.due()
    asr.append(seconds(0.99))
    assert not asr.due()


def test_stable_and_unstable_text_after_successive_steps():
    asr, backend = make(
        [(0.0, 0.3, " The"), (0.3, 0.7, " birch"), (0.7, 1.0, " can")],
        [(0.0, 0.3, " The"), (0.3, 0.7, " birch"), (0.7, 1.2, " canoe"), (1.3, 1.8, " slid")],
        [(0.0, 0.3, " The"), (0.3, 0.7, " birch"), (0.7, 1.2, " canoe"), (1.3, 1.8, " slid"), (1.9, 2.1, " on")],
    )
    asr.reset(5.0)
    asr.append(seconds(1.0))
    first = asr.step()
    assert (first.stable, first.unstable, first.final) == ("", "The birch can", False)
    asr.append(seconds(1.0))
    second = asr.step()
    assert (second.stable, second.unstable) == ("The birch", "canoe slid")
    assert [w.start for w in second.words] == pytest.approx([5.0, 5.3])  # absolute: turn start + offset
    asr.append(seconds(1.0))
    third = asr.step()
    assert (third.stable, third.unstable) == ("The birch canoe slid", "on")
    assert [c[0] for c in backend.calls] == pytest.approx([1.0, 2.0, 3.0])
    assert all(prompt == "" for _, prompt in backend.calls)  # nothing committed before the buffer yet


def test_a_pass_taken_once_the_speaker_paused_commits_what_it_heard():
    script = [(0.0, 0.3, " The"), (0.3, 0.7, " birch"), (0.7, 1.2, " canoe.")]
    asr, backend = make(script, script, script)
    asr.append(seconds(1.5))
    first = asr.apply_pass(request := asr.take_pass(may_be_final=True, settles=True), asr.recognise(request))
    assert (first.stable, first.unstable) == ("The birch canoe.", "")  # no second pass needed
    assert request.window_s == 30.0  # the window of text that may be final
    off, _ = make(script, commit_in_pauses=False)
    off.append(seconds(1.5))
    assert off.step(may_be_final=True).stable == ""  # without it: a second pass must agree


def test_trim_at_committed_sentence_end_keeps_absolute_times():
    sentence = [(0.0, 1.0, " Hello"), (1.0, 2.0, " there."), (2.5, 3.0, " How")]
    asr, backend = make(
        sentence,
        sentence + [(3.0, 3.5, " are")],
        # after the trim the buffer starts at 2.0 s: times are relative to that
        [(0.5, 1.0, " How"), (1.0, 1.5, " are"), (1.6, 2.0, " you?")],
        [(0.5, 1.0, " How"), (1.0, 1.5, " are"), (1.6, 2.0, " you?"), (2.2, 2.6, " Fine")],
        buffer_trim_s=3.0,
        interval_s=1.0,
    )
    asr.reset(100.0)
    asr.append(seconds(3.0))
    asr.step()
    asr.append(seconds(1.0))
    update = asr.step()  # commits "Hello there. How"; the buffer (4 s) exceeds 3 s: cut after "there."
    assert update.stable == "Hello there. How"
    assert asr.buffer_t0 == pytest.approx(102.0)
    assert asr.buffer_seconds == pytest.approx(2.0)
    asr.append(seconds(1.0))
    asr.step()
    assert backend.calls[2] == (pytest.approx(3.0), "Hello there.")  # shorter buffer, prompt: the cut text
    asr.append(seconds(1.0))
    update = asr.step()
    assert update.stable == "Hello there. How are you?"
    times = [t for w in update.words[2:] for t in (w.start, w.end)]
    assert times == pytest.approx([102.5, 103.0, 103.0, 103.5, 103.6, 104.0])


def test_no_trim_without_a_committed_sentence_end_until_the_hard_limit():
    words = [(float(i), i + 0.5, f" w{i}") for i in range(7)]
    asr, _ = make(words[:5], words[:6], words, words, buffer_trim_s=3.0)
    asr.append(seconds(5.0))
    asr.step()
    asr.append(seconds(1.0))
    asr.step()
    assert asr.buffer_t0 == 0.0  # 6 s buffer, words committed, but no sentence end: keep the context
    asr.append(seconds(1.0))
    asr.step()  # 7 s > 2 x 3 s: cut at the last committed word
    assert asr.buffer_t0 == pytest.approx(5.5)


def test_finish_transcribes_and_commits_the_tail():
    asr, backend = make(
        [(0.0, 0.4, " The"), (0.4, 0.9, " birch")],
        [(0.0, 0.4, " The"), (0.4, 0.9, " birch"), (1.0, 1.4, " canoe")],
        [(0.0, 0.4, " The"), (0.4, 0.9, " birch"), (1.0, 1.4, " canoe"), (1.5, 1.9, " slid.")],
    )
    asr.append(seconds(1.0))
    asr.step()
    asr.append(seconds(1.0))
    asr.step()
    asr.append(seconds(0.3))  # less than interval_s: not due, but finish must still hear it
    assert not asr.due()
    final = asr.finish()
    assert final.final
    assert final.stable == "The birch canoe slid."
    assert final.unstable == ""
    assert len(backend.calls) == 3 and backend.calls[-1][0] == pytest.approx(2.3)


def test_finish_without_new_audio_commits_the_last_hypothesis_without_another_pass():
    asr, backend = make([(0.0, 0.4, " Yes.")])
    asr.append(seconds(1.0))
    asr.step()
    assert asr.finish().stable == "Yes."
    assert len(backend.calls) == 1


def test_reset_starts_a_fresh_turn():
    asr, _ = make([(0.0, 0.4, " One.")], [(0.0, 0.4, " Two.")], agreement_n=1)
    asr.append(seconds(1.0))
    assert asr.step().stable == "One."
    asr.reset(50.0)
    asr.append(seconds(1.0))
    update = asr.step()
    assert update.stable == "Two." and update.words[0].start == pytest.approx(50.0)


def test_prompt_is_limited_to_prompt_chars_on_a_word_boundary():
    asr, backend = make(
        [(0.0, 0.5, " alpha"), (0.5, 1.0, " beta"), (1.0, 1.5, " gamma.")],
        [(0.2, 0.5, " delta")],
        agreement_n=1, buffer_trim_s=1.0, prompt_chars=13,
    )
    asr.append(seconds(2.0))
    asr.step()
    asr.append(seconds(1.0))
    asr.step()
    assert backend.calls[1][1] == "beta gamma."  # the last 13 chars are "a beta gamma.": drop the half word
