"""Property-based tests (hypothesis): the invariants the pipeline's pure parts promise, on inputs nobody
wrote by hand. Each property is one the rest of the code relies on; a counterexample is a real bug."""

from __future__ import annotations

import json
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from voice_livemind.asr.local_agreement import LocalAgreement
from voice_livemind.asr.words import Word, words_of
from voice_livemind.config import LIMITS, ConfigError, load_config
from voice_livemind.livemind.actions import COMPLETE, SIMPLIFIED, parse_reply
from voice_livemind.livemind.memory import Entry, InferenceMemory
from voice_livemind.livemind.segmenter import closed_segments, merge_short, segment
from voice_livemind.server.protocol import ProtocolError, audio_encoding, decode_audio, parse_control
from voice_livemind.tts.chunker import SentenceChunker

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Speech-like text: words, numbers with commas and points, sentence and clause punctuation.
WORD = st.one_of(st.sampled_from(["the", "capital", "of", "France", "I", "need", "a", "flight", "Dr.", "U.S.",
                                  "e.g.", "um", "and", "what", "is", "two", "plus", "Boston"]),
                 st.text(string.ascii_letters, min_size=1, max_size=8),
                 st.integers(0, 10**6).map(lambda n: f"{n:,}"),
                 st.floats(0, 1000, allow_nan=False).map(lambda x: f"{x:.2f}"))
TOKEN = st.tuples(WORD, st.sampled_from(["", "", "", ",", ".", "?", "!", ";", ":"])).map("".join)
TEXT = st.lists(TOKEN, max_size=40).map(" ".join)
def squeezed(pieces: list[str]) -> str:
    """The text without its whitespace."""
    return "".join("".join(pieces).split())


PIECE = st.text(string.ascii_letters + " ,.?", min_size=1, max_size=30).map(str.strip).filter(bool)


# -- the segmenter ----------------------------------------------------------------------------------------
@SETTINGS
@given(st.lists(PIECE, max_size=12), st.integers(0, 40), st.integers(0, 12))
def test_merged_segments_of_a_growing_text_only_grow_at_the_end(pieces, min_chars, cut):
    """Notes are keyed by segments: segments closed earlier must stay the same as more words arrive."""
    before = merge_short(pieces[:cut], min_chars, final=False)
    after = merge_short(pieces, min_chars, final=False)
    assert after[: len(before)] == before
    final = merge_short(pieces, min_chars, final=True)
    assert final[: len(after)] == after
    assert " ".join(final).split() == " ".join(pieces).split()  # nothing lost, nothing repeated
    assert all(len(s) >= min_chars for s in final[:-1])


@SETTINGS
@given(TEXT, st.sampled_from(["sentence", "clause", "word"]), st.integers(0, 30))
def test_closed_segments_are_a_prefix_of_the_finished_text_and_keep_every_word(text, granularity, min_chars):
    whole = segment(text, granularity, min_chars)
    assert closed_segments(text, granularity, min_chars, final=True) == whole
    closed = closed_segments(text, granularity, min_chars)
    assert whole[: len(closed)] == closed
    assert squeezed(whole) == squeezed([text])  # no character lost or added (the splitter may move spaces)


# -- the inference memory ---------------------------------------------------------------------------------
ENTRIES = st.lists(st.tuples(st.lists(st.sampled_from("abcde"), min_size=1, max_size=3),
                             st.sampled_from(["inference", "wait"])), max_size=6)


@SETTINGS
@given(ENTRIES, st.lists(st.sampled_from("abcde"), max_size=12))
def test_the_memory_keeps_exactly_the_entries_whose_segments_still_prefix_the_text(entries, segments):
    memory = InferenceMemory()
    for covered, action in entries:
        memory.add(Entry(tuple(covered), action, "" if action == "wait" else f"note on {''.join(covered)}"))
    dropped = memory.align(segments)
    kept = [s for e in memory.entries for s in e.segments]
    assert segments[: len(kept)] == kept and dropped + len(memory.entries) == len(entries)
    assert memory.covered() == len(kept)
    if dropped:  # the first dropped entry no longer matched the text after the kept ones
        first = list(entries[len(memory.entries)][0])
        assert segments[len(kept) : len(kept) + len(first)] != first
    assert memory.align(segments) == 0  # aligning again changes nothing
    assert all(note.startswith("note on") for note in memory.notes())


# -- the action parser ------------------------------------------------------------------------------------
@SETTINGS
@given(st.text(max_size=80), st.sampled_from([SIMPLIFIED, COMPLETE]))
def test_any_reply_parses_to_an_allowed_action_and_loses_no_unformatted_text(reply, allowed):
    action = parse_reply(reply, allowed)
    assert action.name in allowed
    if not action.parsed:
        assert action.name == "inference" and action.content == reply.strip()


@SETTINGS
@given(st.sampled_from(COMPLETE), st.sampled_from(["", ":", "-", " "]), st.sampled_from([".", ":", "-", ""]),
       st.from_regex(r"[A-Za-z][A-Za-z ,.?']{0,60}", fullmatch=True))
def test_a_formatted_reply_gives_its_action_and_content(name, after_word, after_name, content):
    action = parse_reply(f"action{after_word} {name}{after_name} {content}", COMPLETE)
    assert action.parsed and action.name == name
    assert action.content == ("" if name == "wait" else content.strip())


# -- LocalAgreement ---------------------------------------------------------------------------------------
def hypothesis_words(texts: list[str]) -> list[Word]:
    return [Word(0.3 * i, 0.3 * i + 0.25, f" {t}") for i, t in enumerate(texts)]


HYPOTHESES = st.lists(st.lists(st.sampled_from(["what", "is", "the", "capital", "of", "France", "friends"]),
                               max_size=8), min_size=1, max_size=10)


@SETTINGS
@given(HYPOTHESES, st.integers(1, 3))
def test_committed_words_never_change_and_the_flush_commits_the_last_hypothesis(hypotheses, n):
    agreement = LocalAgreement(n)
    committed: list[Word] = []
    for texts in hypotheses:
        new = agreement.insert(hypothesis_words(texts))
        assert agreement.committed == committed + new  # only appended to, never rewritten
        committed = agreement.committed
        assert [w.start for w in committed] == sorted(w.start for w in committed)
    last = agreement.unstable
    agreement.flush()
    assert agreement.committed == committed + last and agreement.unstable == []


@SETTINGS
@given(st.lists(st.sampled_from(["what", "is", "the", "capital", "of", "France"]), max_size=8), st.integers(1, 3))
def test_n_identical_hypotheses_commit_all_of_it(texts, n):
    agreement = LocalAgreement(n)
    for _ in range(n):
        agreement.insert(hypothesis_words(texts))
    assert [w.text.strip() for w in agreement.committed] == texts


# -- the sentence chunker ---------------------------------------------------------------------------------
@SETTINGS
@given(TEXT, st.lists(st.integers(1, 12), max_size=60), st.sampled_from([0, 3, 4]))
def test_the_chunker_says_every_word_once_however_the_text_is_streamed(text, sizes, first_chunk_words):
    chunker, said, position = SentenceChunker(first_chunk_words), [], 0
    for size in sizes:
        said += chunker.push(text[position : position + size])
        position += size
    said += chunker.push(text[position:])
    said += chunker.flush()
    assert squeezed(said) == squeezed([text])
    assert all(piece.strip() == piece and piece for piece in said)


# -- the config loader ------------------------------------------------------------------------------------
KEYS = sorted(LIMITS) + ["vad.frame_ms", "vad.min_silence_ms", "vad.max_silence_ms", "vad.end_threshold",
                         "models.answer.threads", "mode", "asr.device", "vad.end_model",
                         "nosuch.key", "asr.nosuch", "asr", "asr.interval_s.deeper", "models.answer"]
VALUES = st.one_of(st.integers(-10**6, 10**6).map(str), st.floats().map(repr),
                   st.sampled_from([".nan", ".inf", "-.inf", "true", "null", "[1, 2]", "{a: 1}", "'7'", "", "{",
                                    "cuda", "0", "-1", "1e9"]),
                   st.text(max_size=12))


@SETTINGS
@given(st.sampled_from(KEYS), VALUES)
def test_any_override_loads_within_its_limits_or_is_a_config_error_naming_the_key(key, value):
    try:
        config = load_config(overrides=[f"{key}={value}"])
    except ConfigError as err:
        assert key.split(".")[-1] in str(err) or key.split(".")[0] in str(err)
        return
    if key in LIMITS:
        allowed, ok = LIMITS[key]
        value = config
        for name in key.split("."):
            value = getattr(value, name)
        assert ok(value), allowed


@pytest.mark.parametrize("override", ["vad.hangover_ms=-5", "asr.interval_s=0", "asr.interval_s=.nan",
                                      "asr.buffer_trim_s=20", "answer.max_new_tokens=0", "server.port=70000"])
def test_impossible_values_are_config_errors_naming_the_key(override):
    key = override.split("=")[0]
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(overrides=[override])


# -- the server's message decoder -------------------------------------------------------------------------
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=8)
CONTROL = st.one_of(st.text(max_size=60), JSON.map(json.dumps),
                    st.fixed_dictionaries({"type": st.one_of(st.sampled_from(["start", "end", "report"]), JSON)},
                                          optional={"sample_rate": JSON, "channels": JSON, "encoding": JSON})
                    .map(json.dumps))


@SETTINGS
@given(CONTROL)
def test_any_text_frame_is_a_known_message_or_a_protocol_error(text):
    try:
        message = parse_control(text)
    except ProtocolError as err:
        assert err.code == "bad_message"
        return
    assert message["type"] in ("start", "end", "report")
    if message["type"] == "start":
        try:
            encoding = audio_encoding(message, 16000)
        except ProtocolError as err:
            assert err.code == "bad_format"
            return
        assert encoding in ("pcm_s16le", "pcm_f32le")


@SETTINGS
@given(st.binary(max_size=64), st.sampled_from(["pcm_s16le", "pcm_f32le"]))
def test_any_binary_frame_is_whole_samples_or_a_protocol_error(data, encoding):
    try:
        samples = decode_audio(data, encoding)
    except ProtocolError as err:
        assert err.code == "bad_audio" and len(data) % (2 if encoding == "pcm_s16le" else 4)
        return
    assume(samples.size)
    assert samples.dtype == np.float32 and samples.size == len(data) // (2 if encoding == "pcm_s16le" else 4)
    if encoding == "pcm_s16le":
        assert np.all(np.abs(samples) <= 1.0)
