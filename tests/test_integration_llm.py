"""The transformers backend on the real SmolLM2 (CPU): constraints, stops, and key/value cache reuse."""

import pytest

from tests.fakes import StopAfter

from voice_livemind.config import load_config
from voice_livemind.livemind import prompts
from voice_livemind.livemind.memory import Entry

pytestmark = pytest.mark.integration

SEGMENTS = ["A farmer has a field that is 120 meters long and 80 meters wide.",
            "He wants to build a fence around the whole field."]


def make_model(reuse: bool):
    from voice_livemind.llm.transformers_backend import TransformersChatModel

    config = load_config(overrides=[f"models.inference.reuse_kv_cache={str(reuse).lower()}"])
    return TransformersChatModel(config.models.inference), config


def note_then_answer(model, config):
    system = config.livemind.prompts.inference_system
    first = model.generate(prompts.inference_messages("multi_turn", system, [], SEGMENTS[:1]), 24, prefix="action",
                           first_word_choices=(" inference", " wait"), stop_at_newline=True)
    entry = Entry((SEGMENTS[0],), "inference", first.text.removeprefix("action inference.").strip())
    answer = model.generate(prompts.answer_messages("multi_turn", config.livemind.prompts.answer_system, [entry],
                                                    SEGMENTS, inference_system=system), 24)
    return first, answer


def test_reusing_the_cache_changes_nothing_but_the_work():
    plain = note_then_answer(*make_model(reuse=False))
    reused = note_then_answer(*make_model(reuse=True))
    assert [g.text for g in plain] == [g.text for g in reused]
    # The answer prompt continues the note's conversation: all of the note's prompt was cached.
    assert reused[1].reused_tokens >= reused[0].prompt_tokens
    assert plain[1].reused_tokens == 0


def test_a_prefilled_system_prompt_is_reused_and_changes_nothing():
    model, config = make_model(reuse=True)
    system = {"role": "system", "content": config.livemind.prompts.inference_system}
    messages = prompts.inference_messages("multi_turn", system["content"], [], SEGMENTS[:1])
    cold = model.generate(messages, 16, prefix="action", first_word_choices=(" inference", " wait"))
    model.forget()
    model.prefill([system])
    warm = model.generate(messages, 16, prefix="action", first_word_choices=(" inference", " wait"))
    assert warm.text == cold.text
    assert cold.reused_tokens == 0 and 50 < warm.reused_tokens < warm.prompt_tokens - len(SEGMENTS[0].split())


def test_first_word_constraint_and_newline_stop():
    model, config = make_model(reuse=False)
    messages = prompts.inference_messages("single", config.livemind.prompts.inference_system, [], SEGMENTS)
    generation = model.generate(messages, 40, prefix="action", first_word_choices=(" wait",), stop_at_newline=True)
    assert generation.text.startswith("action wait")
    assert "\n" not in generation.text.strip()


def test_an_answer_after_the_notes_conversation_does_not_imitate_the_action_format():
    from voice_livemind.livemind.prompts import NOT_AN_ANSWER_START

    model, config = make_model(reuse=True)
    entries = [Entry((SEGMENTS[0],), "inference", "The field is 120 m by 80 m."),
               Entry((SEGMENTS[1],), "inference", "The fence goes around the whole field.")]
    messages = prompts.answer_messages("multi_turn", config.livemind.prompts.answer_system, entries,
                                       SEGMENTS + ["How long is the fence?"],
                                       inference_system=config.livemind.prompts.inference_system)
    banned = model.generate(messages, 16, banned_first_words=NOT_AN_ANSWER_START + ("The",))
    assert not banned.text.lower().startswith(("action", "the"))  # the ban holds even for the likeliest start


def test_a_long_prefill_can_be_stopped_between_chunks_and_resumed_from_what_it_did():
    from voice_livemind.llm.transformers_backend import PREFILL_CHUNK

    model, config = make_model(reuse=True)
    messages = prompts.inference_messages("multi_turn", config.livemind.prompts.inference_system, [], SEGMENTS)
    stopped = model.generate(messages, 8, stop=StopAfter(2), stoppable_prefill=True)
    assert (stopped.stop_reason, stopped.tokens) == ("stop_flag", 0)
    again = model.generate(messages, 8)
    assert again.reused_tokens == 2 * PREFILL_CHUNK  # the two chunks run before the stop were kept
    model.forget()
    assert model.generate(messages, 8).text == again.text
