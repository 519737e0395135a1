from voice_livemind.llm.stopping import answer_stated, extract_answer, repeating_tail


def test_repeating_tail_detects_loops_of_any_block_length():
    assert repeating_tail([5, 1, 2, 3] * 4)
    assert repeating_tail([9] + [7] * 8)
    assert not repeating_tail([7] * 7)  # a short run of one token is not yet a loop
    assert not repeating_tail(list(range(40)))
    assert not repeating_tail([1, 2, 3] * 3)  # three repeats are allowed, four are a loop
    assert repeating_tail([1, 2, 3] * 4)


def test_answer_pattern_first_match_and_stop_only_when_complete():
    assert extract_answer("so the answer is (C). Actually the answer is (D).") == "C"
    assert extract_answer("The answer is B") == "B"
    assert extract_answer("I am not sure") is None
    assert not answer_stated("the answer is (C")
    assert answer_stated("the answer is (C)")
    assert answer_stated("the answer is C.")
    assert not answer_stated("the answer is Also")


class CharTokenizer:
    """One token per character: enough to drive the stop guard without a model."""

    def decode(self, ids, skip_special_tokens=True):
        return "".join(map(chr, ids))


def test_the_stop_guard_counts_a_forced_prefix_as_said():
    from voice_livemind.llm.transformers_backend import _StopGuard

    with_prefix = _StopGuard(CharTokenizer(), 0, None, set(), True, prefix="The answer is (")
    assert with_prefix._check([ord("B")]) is None  # "(B" is not complete yet
    assert with_prefix._check([ord("B"), ord(")")]) == "answer"
    without = _StopGuard(CharTokenizer(), 0, None, set(), True)
    assert without._check([ord("B"), ord(")")]) is None
    newline = _StopGuard(CharTokenizer(), 0, None, {ord("\n")}, False)
    assert newline._check([ord("a"), ord("\n")]) == "newline"
