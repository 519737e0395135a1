"""The commit guard of streaming recognition (asr.commit_guard): a hallucinated pass must not poison the turn.

Issue 14: on an unfamiliar voice an early pass heard "I'll be in the right now.", LocalAgreement committed
it and the committed text, fed back as the prompt, kept later passes on the same track. Here a scripted
backend plays such passes: doubtful words (their segment's log-probability, no-speech probability or
compression ratio) are not committed before the end of the turn, and a pass that doubts or echoes its
prompt is decoded again without the prompt, which is then dropped.
"""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from voice_livemind.asr import StreamingASR
from voice_livemind.asr.local_agreement import LocalAgreement
from voice_livemind.asr.streaming import STALL_PASSES, echoes_prompt
from voice_livemind.asr.whisper_backend import FasterWhisperBackend
from voice_livemind.asr.words import SegmentScore, Word
from voice_livemind.config import ASRConfig

SR = 16000
DOUBT = SegmentScore(avg_logprob=-1.4, no_speech_prob=0.2, compression_ratio=1.3, doubtful=True)
SURE = SegmentScore(avg_logprob=-0.3, no_speech_prob=0.01, compression_ratio=1.2, doubtful=False)


def words(*items, score=None) -> list[Word]:
    return [Word(s, e, t, score) for s, e, t in items]


class Backend:
    """Answers each pass from `respond(seconds of audio, prompt)`; records every call."""

    def __init__(self, respond):
        self.respond = respond
        self.calls: list[tuple[float, str]] = []

    def transcribe(self, audio: np.ndarray, prompt: str, window_s: float = 30.0) -> list[Word]:
        self.calls.append((round(audio.shape[0] / SR, 3), prompt))
        return self.respond(audio.shape[0] / SR, prompt)


def make(respond, **overrides) -> tuple[StreamingASR, Backend]:
    """`respond(seconds, prompt, trimmed)`: `trimmed` once the buffer no longer starts at 0."""
    holder = []
    backend = Backend(lambda seconds, prompt: respond(seconds, prompt, holder[0].buffer_t0 > 0))
    config = replace(ASRConfig(), **{"interval_s": 0.5, "buffer_trim_s": 1.0, "agreement_n": 2, **overrides})
    asr = StreamingASR(backend, config)
    holder.append(asr)
    asr.reset(0.0)
    return asr, backend


def feed(asr: StreamingASR, seconds: float):
    asr.append(np.zeros(int(round(seconds * SR)), np.float32))
    return asr.step()


HELLO = words((0.1, 0.5, " Hello"), (0.6, 1.0, " there."), score=SURE)
HALLUCINATION = words((0.1, 0.4, " I'll"), (0.4, 0.6, " be"), (0.6, 0.8, " in"), (0.8, 0.9, " the"), score=DOUBT)
QUESTION = words((0.1, 0.4, " What"), (0.4, 0.6, " is"), (0.6, 0.8, " the"), (0.8, 0.9, " capital"), score=SURE)


def committed_hello(asr: StreamingASR) -> None:
    """Two passes agree on "Hello there." and the buffer is trimmed at its end: the prompt is that text."""
    feed(asr, 1.5)
    assert feed(asr, 0.5).stable == "Hello there."
    assert asr.buffer_t0 == pytest.approx(1.0)
    assert asr.prompt() == "Hello there."


def test_doubtful_words_are_not_committed_however_many_passes_agree():
    agreement = LocalAgreement(2)
    first = words((0.1, 0.4, " What"), score=SURE) + words((0.5, 0.9, " now."), score=DOUBT)
    agreement.insert(first)
    assert [w.text for w in agreement.insert(list(first))] == [" What"]  # the sure word before it commits
    for _ in range(3):
        assert agreement.insert(list(first)) == []
    assert [w.text for w in agreement.unstable] == [" now."]  # still shown, as unstable text
    assert [w.text for w in agreement.flush()] == [" now."]  # the end of the turn commits what was heard


def test_a_doubting_pass_is_decoded_again_without_the_prompt_and_the_prompt_is_dropped():
    def respond(seconds, prompt, trimmed):
        if not trimmed:
            return HELLO[: 1 if seconds < 1.0 else 2]
        # After the trim (buffer from 1.0 s): on the prompt Whisper is lost, without it it hears the question.
        return HALLUCINATION if prompt else QUESTION

    asr, backend = make(respond)
    committed_hello(asr)
    transcript = feed(asr, 0.5)
    assert backend.calls[-2:] == [(1.5, "Hello there."), (1.5, "")]  # the same audio, decoded again
    assert transcript.unstable == "What is the capital"
    assert asr.prompt_drops == 1
    assert asr.prompt() == ""  # the committed text no longer steers the passes
    assert feed(asr, 0.5).stable == "Hello there. What is the capital"
    assert backend.calls[-1] == (2.0, "")  # a sure pass without prompt: decoded once


def test_without_the_guard_the_hallucination_is_committed_and_becomes_the_prompt():
    """The failure of issue 14, reproduced with the guard off (the proof that the guard is what helps)."""

    unmarked = [Word(w.start, w.end, w.text, replace(DOUBT, doubtful=False)) for w in HALLUCINATION]

    def respond(seconds, prompt, trimmed):  # the backend marks no doubt with the guard off
        if not trimmed:
            return HELLO[: 1 if seconds < 1.0 else 2]
        return unmarked if prompt else QUESTION

    asr, backend = make(respond, commit_guard=False)
    committed_hello(asr)
    feed(asr, 0.5)
    assert feed(asr, 0.5).stable == "Hello there. I'll be in the"  # committed on the prompt's track
    assert all(prompt == "Hello there." for _, prompt in backend.calls[2:])


def test_with_the_guard_a_hallucination_that_persists_is_not_committed_nor_fed_back():
    def respond(seconds, prompt, trimmed):
        if not trimmed:
            return HELLO[: 1 if seconds < 1.0 else 2]
        return HALLUCINATION  # lost with or without the prompt

    asr, backend = make(respond)
    committed_hello(asr)
    for _ in range(3):
        transcript = feed(asr, 0.5)
        assert transcript.stable == "Hello there."
        assert transcript.unstable == "I'll be in the"
    assert asr.prompt_drops == 0  # the retry was no better: the prompt stays, nothing wrong was committed
    assert "I'll" not in asr.prompt()
    assert asr.finish(hear_rest=False).stable == "Hello there. I'll be in the"  # the end commits what was heard


def test_a_pass_that_echoes_its_prompt_is_decoded_again_without_it():
    prompt_words = words((0.1, 0.3, " The"), (0.3, 0.5, " next"), (0.5, 0.7, " time"), (0.7, 0.8, " we"),
                         (0.8, 0.9, " start."), score=SURE)

    def respond(seconds, prompt, trimmed):
        if not trimmed:
            return prompt_words[: 2 if seconds < 1.0 else 5]
        if prompt:  # reads its prompt back, with no doubt in its scores
            return words((0.1, 0.2, " The"), (0.2, 0.3, " next"), (0.3, 0.4, " time"), (0.4, 0.5, " we"),
                         (0.5, 0.7, " start"), score=SURE)
        return QUESTION

    asr, backend = make(respond)
    feed(asr, 1.5)
    assert feed(asr, 0.5).stable == "The next time we start."
    assert asr.prompt() == "The next time we start."
    assert feed(asr, 0.5).unstable == "What is the capital"
    assert backend.calls[-1] == (1.6, "") and asr.prompt_drops == 1  # the buffer from 0.9 s


def test_passes_that_stop_agreeing_drop_the_prompt():
    flip = {"n": 0}

    def respond(seconds, prompt, trimmed):
        if not trimmed:
            return HELLO[: 1 if seconds < 1.0 else 2]
        flip["n"] += 1  # sure words, but every pass says something else: nothing is ever agreed
        return words((0.1, 0.5, f" word{flip['n']}"), score=SURE)

    asr, backend = make(respond, buffer_trim_s=30.0)
    feed(asr, 1.5)
    feed(asr, 0.5)
    asr._buffer_t0 = 1.0  # as if trimmed, without the trim of a long buffer: the prompt is "Hello there."
    asr._buffer = asr._audio()[SR:]
    assert asr.prompt() == "Hello there."
    for _ in range(STALL_PASSES - 1):
        feed(asr, 0.5)
        assert asr.prompt() == "Hello there."
    feed(asr, 0.5)
    assert asr.prompt() == "" and asr.prompt_drops == 1
    assert len(backend.calls) == 2 + STALL_PASSES  # sure passes are never decoded twice


def test_a_prompted_pass_that_hears_nothing_is_decoded_again_without_the_prompt():
    # After a trim the prompt is a spoken list ("S equals one, R equals two, ..."): led by it, Whisper loops
    # and every segment is dropped (2.4-2.7 s a pass in the real case, one after another). Without the
    # prompt it hears the next option; the prompt is dropped.
    NEXT = words((0.1, 0.5, " E,"), (0.6, 1.0, " S"), (1.0, 1.4, " equals"), (1.4, 1.8, " one."), score=SURE)

    def respond(seconds, prompt, trimmed):
        if not trimmed:
            return HELLO[: 1 if seconds < 1.0 else 2]
        return [] if prompt else NEXT[: 2 if seconds < 1.0 else 4]

    asr, backend = make(respond, buffer_trim_s=30.0)
    feed(asr, 1.5)
    feed(asr, 0.5)
    asr._buffer_t0 = 1.0  # as if trimmed: the prompt is "Hello there."
    asr._buffer = asr._audio()[SR:]
    before = len(backend.calls)
    assert feed(asr, 0.5).unstable == "E, S equals one."
    assert backend.calls[before:] == [(1.5, "Hello there."), (1.5, "")] and asr.prompt_drops == 1
    assert asr.prompt() == ""


def test_an_empty_pass_without_a_prompt_is_not_decoded_again():
    asr, backend = make(lambda seconds, prompt, trimmed: [])
    feed(asr, 0.5)
    feed(asr, 0.5)
    assert backend.calls == [(0.5, ""), (1.0, "")] and asr.prompt_drops == 0


def test_clean_passes_are_decoded_once_and_commit_as_before():
    def respond(seconds, prompt, trimmed):
        return HELLO[: 1 if seconds < 1.0 else 2]

    for guard in (True, False):
        asr, backend = make(respond, commit_guard=guard)
        feed(asr, 0.8)
        stable = [feed(asr, 0.5).stable for _ in range(2)]
        assert stable == ["Hello", "Hello there."]
        assert len(backend.calls) == 3


@pytest.mark.parametrize("heard, prompt, echo", [
    ("the next time we start the video", "So. The next time we start the video, we", True),  # 6 in a row
    ("the next time we", "The next time we start.", True),  # 4, all it heard
    ("what is the capital of France", "Tell me: what is the", False),  # 4 of 6 heard: a real repetition
    ("what is the capital", "", False),
    ("", "The next time we start.", False),
])
def test_echoes_prompt(heard, prompt, echo):
    hypothesis = [Word(i * 0.2, i * 0.2 + 0.2, " " + w) for i, w in enumerate(heard.split())]
    assert echoes_prompt(hypothesis, prompt) is echo


LOOPING = "in his book in his book".split()
LIST = "B S equals two R equals two C S equals one R equals one".split()


@pytest.mark.parametrize("logprob, no_speech, ratio, words, doubtful", [
    (-0.3, 0.05, 1.4, LIST, False),  # clean speech
    (-1.3, 0.05, 1.4, LIST, True),  # Whisper's own fallback would have retried it
    (-0.5, 0.8, 1.4, LIST, True),  # likely no speech (the drop rule needs a low log-probability as well)
    (-0.5, 0.05, 2.2, LOOPING, True),  # a loop in the making (dropped once it loops)
    (-0.4, 0.05, 2.2, LIST, False),  # a spoken list compresses like that too, with no phrase said twice in a row
])
def test_the_whisper_backend_scores_its_segments(logprob, no_speech, ratio, words, doubtful):
    backend = FasterWhisperBackend.__new__(FasterWhisperBackend)  # no model: only the scoring
    segment = SimpleNamespace(avg_logprob=logprob, no_speech_prob=no_speech, compression_ratio=ratio,
                              words=[SimpleNamespace(word=" " + w) for w in words])
    for guard in (True, False):
        backend.config = replace(ASRConfig(), commit_guard=guard)
        score = backend._score(segment)
        assert score.doubtful is (doubtful and guard)
        assert (score.avg_logprob, score.no_speech_prob, score.compression_ratio) == (logprob, no_speech, ratio)
