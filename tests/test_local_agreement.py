"""LocalAgreement-n: commits, revisions, overlap removal and flush, on hand-written hypotheses."""

import pytest

from voice_livemind.asr import LocalAgreement, Word
from voice_livemind.asr.words import SegmentScore


def hyp(*spec: str, start: float = 0.0, step: float = 0.5) -> list[Word]:
    """Words 0.5 s apart from `start`: hyp("a", "b") -> [Word(0, .4, " a"), Word(.5, .9, " b")]."""
    return [Word(start + i * step, start + i * step + 0.4, " " + t) for i, t in enumerate(spec)]


def texts(words: list[Word]) -> list[str]:
    return [w.text.strip() for w in words]


def test_single_hypothesis_commits_nothing_with_n2():
    la = LocalAgreement(2)
    assert la.insert(hyp("the", "birch")) == []
    assert la.committed == []
    assert texts(la.unstable) == ["the", "birch"]


def test_n2_commits_common_prefix_of_last_two():
    la = LocalAgreement(2)
    la.insert(hyp("the", "birch", "can"))
    new = la.insert(hyp("the", "birch", "canoe", "slid"))
    assert texts(new) == ["the", "birch"]
    assert texts(la.committed) == ["the", "birch"]
    assert texts(la.unstable) == ["canoe", "slid"]


def test_comparison_ignores_case_and_punctuation_and_keeps_latest_spelling():
    la = LocalAgreement(2)
    la.insert(hyp("The", "planks"))
    la.insert(hyp("the", "planks."))
    assert [w.text for w in la.committed] == [" the", " planks."]


def test_n3_needs_three_agreeing_hypotheses():
    la = LocalAgreement(3)
    la.insert(hyp("a", "b", "c"))
    assert la.insert(hyp("a", "b", "x")) == []
    assert texts(la.insert(hyp("a", "b", "c", "d"))) == ["a", "b"]
    # the oldest of the three said "c", the middle one "x": no agreement on the third word yet
    assert texts(la.insert(hyp("a", "b", "c", "d"))) == []
    assert texts(la.insert(hyp("a", "b", "c", "d", "e"))) == ["c", "d"]


def test_unstable_words_are_revised_and_only_agreement_commits():
    la = LocalAgreement(2)
    la.insert(hyp("i", "scream"))
    assert la.insert(hyp("ice", "cream")) == []
    assert texts(la.unstable) == ["ice", "cream"]
    assert texts(la.insert(hyp("ice", "cream", "is"))) == ["ice", "cream"]
    assert texts(la.unstable) == ["is"]


def test_words_before_the_commit_point_are_dropped():
    la = LocalAgreement(2)
    la.insert(hyp("one", "two", "three"))
    la.insert(hyp("one", "two", "three"))
    assert la.committed_end == pytest.approx(1.4)
    # a later pass repeats old words with their old times, and a word 0.05 s early (timestamp jitter)
    la.insert(hyp("one", "two", "three") + [Word(1.35, 1.8, " four")])
    assert texts(la.unstable) == ["four"]


def test_ngram_overlap_with_the_committed_tail_is_removed():
    la = LocalAgreement(2)
    la.insert(hyp("smooth", "planks"))
    la.insert(hyp("smooth", "planks"))
    # the next pass re-emits "planks" with a start shifted past the commit point, then new words
    shifted = [Word(0.9, 1.3, " Planks"), Word(1.5, 1.9, " glue"), Word(2.0, 2.4, " the")]
    la.insert(shifted)
    assert texts(la.unstable) == ["glue", "the"]
    la.insert(shifted)
    assert texts(la.committed) == ["smooth", "planks", "glue", "the"]


def test_flush_commits_the_latest_hypothesis():
    la = LocalAgreement(2)
    la.insert(hyp("a", "b", "c"))
    la.insert(hyp("a", "b", "d", "e"))
    assert texts(la.flush()) == ["d", "e"]
    assert texts(la.committed) == ["a", "b", "d", "e"]
    assert la.unstable == []
    assert la.flush() == []


def test_settle_commits_the_latest_hypothesis_up_to_a_doubtful_word():
    la = LocalAgreement(2)
    la.insert(hyp("a", "b", "c"))
    latest = hyp("a", "b", "d", "e", "f")
    doubt = SegmentScore(avg_logprob=-1.4, no_speech_prob=0.2, compression_ratio=1.3, doubtful=True)
    latest[3] = Word(latest[3].start, latest[3].end, latest[3].text, doubt)
    la.insert(latest)  # commits "a b"
    assert texts(la.settle()) == ["d"]  # "e" is doubtful: it and what follows stay unstable
    assert texts(la.committed) == ["a", "b", "d"] and texts(la.unstable) == ["e", "f"]
    assert la.settle() == []


def test_n1_commits_every_hypothesis():
    la = LocalAgreement(1)
    assert texts(la.insert(hyp("a", "b"))) == ["a", "b"]


def test_invalid_n():
    with pytest.raises(ValueError, match="n >= 1"):
        LocalAgreement(0)
