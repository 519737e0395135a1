"""PrefixCache: what is reused, what is cropped, on a stand-in cache (no torch needed)."""

from voice_livemind.llm.base import shared_prefix_len
from voice_livemind.llm.transformers_backend import PrefixCache


class StandInCache:
    def __init__(self, length):
        self.length = length

    def get_seq_length(self):
        return self.length

    def crop(self, count):
        assert count <= 0  # transformers 5: a negative count drops that many tokens from the end
        self.length += count


def test_shared_prefix_len():
    assert shared_prefix_len([1, 2, 3], [1, 2, 4]) == 2
    assert shared_prefix_len([], [1]) == 0
    assert shared_prefix_len([1, 2], [1, 2, 3]) == 2


def test_reuses_the_shared_prefix_and_crops_the_rest():
    cache = PrefixCache()
    assert cache.take([1, 2, 3]) == (None, 0)  # nothing kept yet
    cache.keep([1, 2, 3, 4, 5, 6], StandInCache(5))  # the last generated token is not in the cache
    kv, reused = cache.take([1, 2, 3, 9, 9])
    assert reused == 3 and kv.length == 3
    assert cache.take([1, 2, 3]) == (None, 0)  # taken: generate() owns it until it is kept again


def test_at_least_one_prompt_token_is_left_to_run():
    cache = PrefixCache()
    cache.keep([1, 2, 3, 4], StandInCache(4))
    kv, reused = cache.take([1, 2, 3])
    assert reused == 2 and kv.length == 2


def test_no_shared_prefix_means_no_reuse():
    cache = PrefixCache()
    cache.keep([1, 2, 3], StandInCache(3))
    assert cache.take([7, 8, 9]) == (None, 0)
