"""The LiveMind controller with a scripted model: what it asks, what it remembers, what it drops."""

import pytest

from tests.fakes import ScriptedChatModel, StopAfter
from voice_livemind.clock import VirtualClock
from voice_livemind.config import load_config
from voice_livemind.livemind.loop import LiveMindLoop


def make_loop(replies, **overrides):
    config = load_config(overrides=[f"livemind.{k}={v}" for k, v in overrides.items()]).livemind
    model = ScriptedChatModel(VirtualClock(), replies)
    return LiveMindLoop(model, config), model


def test_only_closed_segments_are_processed_and_the_last_waits_for_the_end():
    loop, model = make_loop(["action inference. Asks about France."], layout="single")
    loop.observe("Tell me about France. What is its capital")
    assert loop.pending() == ["Tell me about France."]
    result = loop.step()
    assert result.action.name == "inference" and result.segments == ("Tell me about France.",)
    assert loop.step() is None  # nothing new closed: no call
    assert len(model.calls) == 1
    # At the end the open segment reaches only the answer prompt.
    messages = loop.answer_messages("Tell me about France. What is its capital?")
    assert messages[-1]["content"].startswith("Tell me about France. What is its capital?")
    assert "(1) Asks about France." in messages[-1]["content"]


def test_segments_closed_during_a_call_are_handled_together_in_the_next():
    loop, model = make_loop(["action inference. One.", "action inference. Two."])
    loop.observe("First sentence here. Second")
    loop.step()
    loop.observe("First sentence here. Second sentence here. Third sentence here. Fourth")
    result = loop.step()
    assert result.segments == ("Second sentence here.", "Third sentence here.")
    assert len(model.calls) == 2


def test_wait_carries_no_text_and_its_segments_fold_into_later_prompts():
    loop, model = make_loop(["action wait. I will wait for more", "action inference. Now I know."], layout="single")
    loop.observe("Hello there my friend. I have a question")
    assert loop.step().action.name == "wait"
    assert loop.memory.entries[0].text == ""
    loop.observe("Hello there my friend. I have a question about maths. It is")
    loop.step()
    prompt = model.calls[1][-1]["content"]
    assert "Hello there my friend. I have a question about maths." in prompt
    assert "(none yet)" in prompt  # the wait left no note behind


def test_unparsable_reply_is_kept_whole_as_an_inference_and_counted():
    loop, _ = make_loop(["The capital of France is Paris."])
    loop.observe("What is the capital of France? Tell")
    result = loop.step()
    assert (result.action.name, result.action.content, result.action.parsed) == (
        "inference", "The capital of France is Paris.", False)
    assert loop.stats.calls == 1 and loop.stats.parsed == 0


def test_a_revision_truncates_memory_from_the_mismatch_and_recomputes():
    loop, model = make_loop(["action inference. A.", "action inference. B.", "action inference. B2."])
    loop.observe("The first sentence. The second sentence. Third")
    loop.step()
    assert len(loop.memory.entries) == 1
    # ASR revises a word in the second sentence (the first entry covered both closed segments).
    dropped = loop.observe("The first sentence. The second sentences. Third")
    assert dropped == 1 and loop.memory.entries == []
    assert loop.stats.truncations == 1 and loop.stats.entries_dropped == 1
    assert loop.pending() == ["The first sentence.", "The second sentences."]
    loop.step()
    assert len(model.calls) == 2


def test_revision_after_several_entries_keeps_the_matching_prefix():
    loop, _ = make_loop(["action inference. A.", "action inference. B."])
    loop.observe("Sentence number one. Sentence")
    loop.step()
    loop.observe("Sentence number one. Sentence number two. Sentence")
    loop.step()
    assert loop.observe("Sentence number one. Sentence number 2. Sentence") == 1
    assert [e.text for e in loop.memory.entries] == ["A."]


def test_the_inference_call_is_constrained_to_the_action_format():
    loop, model = make_loop(["action wait."], actions="complete")
    calls = []
    original = model.generate

    def spy(messages, max_new_tokens, **kwargs):
        calls.append((max_new_tokens, kwargs))
        return original(messages, max_new_tokens, **kwargs)

    model.generate = spy
    loop.observe("A long enough sentence. And")
    loop.step()
    max_tokens, kwargs = calls[0]
    assert max_tokens == 48 and kwargs["prefix"] == "action" and kwargs["stop_at_newline"]
    assert kwargs["first_word_choices"] == (" background", " inference", " hypothesize", " wait")
    assert "action hypothesize." in model.calls[0][0]["content"]  # the complete set's system prompt


def test_a_note_ends_with_its_first_sentence():
    reply = "action inference. The farmer needs 400 m of fence. He also needs two gates and more text."
    loop, model = make_loop([reply])
    loop.observe("A farmer has a field of 120 by 80 metres. He")
    result = loop.step()
    # generation stopped one word after the sentence, the note is the sentence
    assert result.generation.stop_reason == "complete"
    assert result.generation.text == "action inference. The farmer needs 400 m of fence. He"
    assert loop.memory.entries[0].text == "The farmer needs 400 m of fence."
    loop_all, _ = make_loop([reply], note_sentences=0)
    loop_all.observe("A farmer has a field of 120 by 80 metres. He")
    assert loop_all.step().action.content == reply.removeprefix("action inference. ")


def test_a_wait_stops_at_once():
    loop, _ = make_loop(["action wait. actions of action. actions of action."])
    loop.observe("Hello, I have a question. It")
    result = loop.step()
    assert result.action.name == "wait" and result.generation.tokens == 1


def test_multi_turn_layout_in_the_loop():
    loop, model = make_loop(["action inference. Noted."], layout="multi_turn")
    loop.observe("First sentence here. Second sentence here. Third")
    loop.step()
    loop.observe("First sentence here. Second sentence here. Third sentence here. Fourth")
    loop.step()
    roles = [m["role"] for m in model.calls[1]]
    assert roles == ["system", "user", "assistant", "user"]
    assert model.calls[1][-1]["content"] == "Third sentence here."


def test_unknown_schedule_is_refused():
    config = load_config().livemind
    config.schedule = "eager"
    with pytest.raises(ValueError, match="schedule"):
        LiveMindLoop(ScriptedChatModel(VirtualClock(), ["x"]), config)


def test_a_stopped_call_resumes_with_its_own_prompt_and_later_segments_wait():
    loop, model = make_loop(["action inference. The user plans a trip to Japan."])
    loop.observe("I plan a trip to Japan. I like")
    stopped = loop.step(stop=StopAfter(3))
    assert stopped.yielded and stopped.generation.text == "action inference. The user"
    assert loop.memory.entries == [] and loop.stats.yields == 1
    loop.observe("I plan a trip to Japan. I like hiking a lot. Which")  # a segment closed meanwhile
    resumed = loop.step()
    assert not resumed.yielded and resumed.segments == ("I plan a trip to Japan.",)
    assert model.prefixes[1] == "action inference. The user"  # it went on from its partial reply
    assert model.calls[1] == model.calls[0]  # with the prompt it had
    assert resumed.action.content == "The user plans a trip to Japan." and loop.stats.resumed == 1
    assert loop.step().segments == ("I like hiking a lot.",)  # the new segment comes next


def test_a_revision_drops_the_stopped_call():
    loop, model = make_loop(["action inference. The user plans a trip to Japan."])
    loop.observe("I plan a trip to Japan. I like")
    loop.step(stop=StopAfter(2))
    loop.observe("I plan a trip to Java. I like")  # the recognised text was revised
    result = loop.step()
    assert model.prefixes[1] == "action" and result.segments == ("I plan a trip to Java.",)


def test_the_sequential_schedule_never_keeps_a_partial_reply():
    loop, model = make_loop(["action inference. The user plans a trip."], schedule="sequential")
    loop.observe("I plan a trip to Japan. I like")
    assert not loop.step(stop=StopAfter(2)).yielded  # stopped (cancel), but it counts as written
    assert len(loop.memory.entries) == 1
