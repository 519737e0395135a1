"""The llama.cpp backend on the real packaged SmolLM2 GGUF (CPU): the same prompts as transformers, constraints,
stops, key/value cache reuse, snapshots, threads. Mirrors tests/test_integration_llm.py."""

import re

import pytest

from tests.fakes import StopAfter

from voice_livemind.config import load_config
from voice_livemind.livemind import prompts
from voice_livemind.livemind.memory import Entry
from voice_livemind.models import ModelNotFoundError

integration = pytest.mark.integration

SEGMENTS = ["A farmer has a field that is 120 meters long and 80 meters wide.",
            "He wants to build a fence around the whole field."]
LETTERS = tuple("ABCD")
QUESTION = ("What is the perimeter of a field that is 120 meters long and 80 meters wide? Options: "
            "A. 200 m B. 400 m C. 9600 m D. 160 m")


_LOADED: dict = {}


@pytest.fixture(scope="module", autouse=True)
def _close_models():
    yield
    for model, _ in _LOADED.values():
        model.close()
    _LOADED.clear()


def make_model(reuse: bool = True):
    """One loaded model per setting for the whole module (loading takes ~0.4 s), handed out cold: no cache
    kept from an earlier test, on 1 thread (2 threads of llama.cpp slow down ~10x when another process keeps a
    core busy, as other tests running beside these may)."""
    from voice_livemind.llm.llama_cpp_backend import LlamaCppChatModel

    if reuse not in _LOADED:
        config = load_config(overrides=["models.inference.engine=llama_cpp", "models.inference.threads=1",
                                        f"models.inference.reuse_kv_cache={str(reuse).lower()}"])
        _LOADED[reuse] = LlamaCppChatModel(config.models.inference), config
    model, config = _LOADED[reuse]
    model.forget()
    model.set_threads(1)
    return model, config


def notes_prompt(config, segments=SEGMENTS[:1]):
    return prompts.inference_messages("multi_turn", config.livemind.prompts.inference_system, [], segments)


def note_then_answer(model, config):
    system = config.livemind.prompts.inference_system
    first = model.generate(prompts.inference_messages("multi_turn", system, [], SEGMENTS[:1]), 24, prefix="action",
                           first_word_choices=(" inference", " wait"), stop_at_newline=True)
    entry = Entry((SEGMENTS[0],), "inference", first.text.removeprefix("action inference.").strip())
    answer = model.generate(prompts.answer_messages("multi_turn", config.livemind.prompts.answer_system, [entry],
                                                    SEGMENTS, inference_system=system), 24)
    return first, answer


@integration
def test_the_factory_loads_the_engine_the_config_names():
    from voice_livemind.llm import load_chat_model
    from voice_livemind.llm.llama_cpp_backend import LlamaCppChatModel

    config = load_config(overrides=["models.answer.engine=llama_cpp"])
    model = load_chat_model(config.models.answer)
    assert isinstance(model, LlamaCppChatModel) and model.name == "packaged:smollm2-135m-instruct"


@integration
def test_prompts_are_token_identical_to_transformers_apply_chat_template():
    from transformers import AutoTokenizer

    from voice_livemind.llm.transformers_backend import model_folder

    model, config = make_model()
    tokenizer = AutoTokenizer.from_pretrained(model_folder(config.models.inference.model))
    entry = Entry((SEGMENTS[0],), "inference", "The field is 120 m by 80 m.")
    answer = prompts.answer_messages("multi_turn", config.livemind.prompts.answer_system, [entry], SEGMENTS,
                                     inference_system=config.livemind.prompts.inference_system)
    for messages in (notes_prompt(config), answer, [{"role": "user", "content": "Un café, s'il vous plaît ☕"}]):
        for generation_prompt, prefix in ((False, ""), (True, ""), (True, "The answer is (")):
            text = model.render(messages, generation_prompt) + prefix
            assert text == tokenizer.apply_chat_template(messages, add_generation_prompt=generation_prompt,
                                                         tokenize=False) + prefix
            assert model.tokenize(text) == tokenizer(text, add_special_tokens=False)["input_ids"]
    for word in (" inference", " wait", "action", " action", "Action", "The", "A"):
        assert model._first_tokens((word,)) == [tokenizer.encode(word, add_special_tokens=False)[0]]


@integration
def test_reusing_the_cache_changes_nothing_but_the_work():
    plain = note_then_answer(*make_model(reuse=False))
    reused = note_then_answer(*make_model(reuse=True))
    assert [g.text for g in plain] == [g.text for g in reused]
    # The answer prompt continues the note's conversation: all of the note's prompt was cached.
    assert reused[1].reused_tokens >= reused[0].prompt_tokens
    assert plain[1].reused_tokens == 0 and reused[0].reused_tokens == 0


@integration
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


@integration
def test_first_word_constraint_and_newline_stop():
    model, config = make_model(reuse=False)
    messages = prompts.inference_messages("single", config.livemind.prompts.inference_system, [], SEGMENTS)
    generation = model.generate(messages, 40, prefix="action", first_word_choices=(" wait",), stop_at_newline=True)
    assert generation.text.startswith("action wait")
    assert "\n" not in generation.text.strip()
    assert generation.stop_reason in ("newline", "end")


@integration
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


@integration
def test_a_forced_prefix_with_choices_stops_once_the_answer_is_stated():
    model, config = make_model()
    messages = [{"role": "system", "content": config.livemind.prompts.answer_system},
                {"role": "user", "content": QUESTION}]
    generation = model.generate(messages, 32, prefix="The answer is (", first_word_choices=LETTERS,
                                stop_when_answered=True)
    assert re.fullmatch(r"The answer is \([A-D]\)\.?", generation.text), generation.text
    assert (generation.stop_reason, generation.tokens) == ("answer", 2)
    # without the answer stop it runs on to the end-of-turn token (counted, not shown), or to the cap
    free = model.generate(messages, 32, prefix="The answer is (", first_word_choices=LETTERS)
    assert (free.stop_reason, free.tokens, free.text) == ("end", 3, generation.text)
    capped = model.generate(messages, 1, prefix="The answer is (", first_word_choices=("C",))
    assert (capped.stop_reason, capped.tokens, capped.text) == ("cap", 1, "The answer is (C")


@integration
def test_the_stop_flag_is_checked_once_per_token():
    model, config = make_model()
    messages = notes_prompt(config, SEGMENTS)
    stopped = model.generate(messages, 32, stop=StopAfter(3))
    assert (stopped.stop_reason, stopped.tokens) == ("stop_flag", 4)  # as transformers: checked after each token
    full = model.generate(messages, 4)
    assert full.text == stopped.text and full.reused_tokens == full.prompt_tokens - 1


@integration
def test_a_long_prefill_can_be_stopped_between_chunks_and_resumed_from_what_it_did():
    from voice_livemind.llm.llama_cpp_backend import PREFILL_CHUNK

    model, config = make_model(reuse=True)
    messages = prompts.inference_messages("multi_turn", config.livemind.prompts.inference_system, [], SEGMENTS)
    stopped = model.generate(messages, 8, stop=StopAfter(2), stoppable_prefill=True)
    assert (stopped.stop_reason, stopped.tokens, stopped.text) == ("stop_flag", 0, "")
    again = model.generate(messages, 8)
    assert again.reused_tokens == 2 * PREFILL_CHUNK  # the two chunks run before the stop were kept
    model.forget()
    cold = model.generate(messages, 8)
    assert cold.text == again.text and cold.reused_tokens == 0


@integration
def test_a_warm_up_prefill_can_be_stopped_between_chunks_and_keeps_what_it_read():
    from voice_livemind.llm.llama_cpp_backend import WARM_CHUNK

    model, config = make_model(reuse=True)
    messages = prompts.inference_messages("multi_turn", config.livemind.prompts.inference_system, [], SEGMENTS)
    model.prefill(messages[:1], stop=StopAfter(1))  # the system prompt (> 16 tokens): one chunk, then stopped
    again = model.generate(messages, 8)
    assert again.reused_tokens == WARM_CHUNK
    model.forget()
    model.prefill(messages[:1], stop=StopAfter(100))  # never stopped: all of it, as without a flag
    whole = model.generate(messages, 8)
    assert whole.text == again.text and 4 * WARM_CHUNK < whole.reused_tokens < whole.prompt_tokens


@integration
def test_snapshot_and_restore_hand_the_same_cache_to_another_call():
    model, _ = make_model()
    start = [{"role": "system", "content": "You take short notes."}, {"role": "user", "content": SEGMENTS[0]}]
    note = model.generate(start, 12, stop_at_newline=True)
    saved = model.snapshot()
    follow = start + [{"role": "assistant", "content": note.text}, {"role": "user", "content": SEGMENTS[1]}]
    first = model.generate(follow, 8)
    model.generate([{"role": "user", "content": "Something else entirely."}], 4)  # replaces the cache
    model.restore(saved)
    second = model.generate(follow, 8)
    assert second.text == first.text and second.reused_tokens == first.reused_tokens > note.prompt_tokens


@integration
def test_streamed_text_is_the_reply_without_the_prefix_and_never_half_a_character():
    model, _ = make_model()
    messages = [{"role": "user", "content": "Copy this line exactly: «Ça coûte 5 € — très cher» ☕☕"}]
    pieces: list[str] = []
    generation = model.generate(messages, 40, prefix="Sure:", on_text=pieces.append)
    assert "".join(pieces) == generation.text.removeprefix("Sure:")
    assert all("\ufffd" not in p for p in pieces)
    assert any(ord(c) > 0x7F for c in generation.text)  # the reply did hold multi-byte characters


@integration
def test_set_threads_changes_the_work_not_the_reply():
    model, config = make_model()
    messages = notes_prompt(config)
    one = model.generate(messages, 8)
    model.forget()
    model.set_threads(2)
    assert model.threads == 2
    two = model.generate(messages, 8)
    assert two.text == one.text
    with pytest.raises(ValueError):
        model.set_threads(0)


@integration
def test_a_file_that_is_not_a_gguf_model_is_a_clear_error(tmp_path):
    from voice_livemind.llm.llama_cpp_backend import LlamaCppChatModel

    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF but not really")
    config = load_config(overrides=["models.answer.engine=llama_cpp", f"models.answer.model={broken}"])
    with pytest.raises(ModelNotFoundError, match="could not load .*broken.gguf"):
        LlamaCppChatModel(config.models.answer)


def test_a_missing_llama_cpp_says_how_to_install_it(monkeypatch):
    import sys

    from voice_livemind.llm import load_chat_model

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp raises ImportError
    config = load_config(overrides=["models.answer.engine=llama_cpp"])
    with pytest.raises(ModelNotFoundError, match="llama-cpp-python.*scripts/setup.sh"):
        load_chat_model(config.models.answer)


def test_a_folder_needs_exactly_one_gguf(tmp_path):
    from voice_livemind.llm.llama_cpp_backend import gguf_file

    with pytest.raises(ModelNotFoundError, match="holds 0 .gguf files"):
        gguf_file(str(tmp_path))
    (tmp_path / "m.gguf").write_bytes(b"")
    assert gguf_file(str(tmp_path)) == tmp_path / "m.gguf"
    with pytest.raises(ModelNotFoundError, match="hub id"):
        gguf_file("Qwen/Qwen2.5-1.5B-Instruct")


@integration
def test_the_end_of_turn_probability_reads_the_template_token_after_the_users_words():
    from voice_livemind.vad.text_end import TextEndOfTurn, normalise_for_turn

    model, _ = make_model()
    finished = TextEndOfTurn(model)
    assert normalise_for_turn("What is the capital of, uh... France?") == "what is the capital of uh france"
    complete, cut = finished("What is the capital of France?"), finished("What is the capital of")
    assert 0.0 < cut < complete < 1.0  # measured: see bench turns for how well it tells them apart
    assert finished("") == 0.0
    # Nothing generated, and the kept cache is only a prefix: a generation afterwards is the same as cold.
    messages = [{"role": "user", "content": "Say hello."}]
    after = model.generate(messages, 8).text
    model.forget()
    assert model.generate(messages, 8).text == after


@integration
def test_requantize_makes_one_cached_copy_of_the_wanted_kind_and_reuses_it(tmp_path, monkeypatch):
    from voice_livemind.llm.llama_cpp_backend import LlamaCppChatModel, file_type, gguf_file, requantized

    monkeypatch.setenv("VOICE_LIVEMIND_CACHE", str(tmp_path))
    packaged = gguf_file("packaged:smollm2-135m-instruct")
    assert requantized(packaged, "") == packaged and file_type(packaged) == 3  # Q4_1, read as it is
    copy = requantized(packaged, "q8_0")
    assert copy.parent == tmp_path / "requantized" and file_type(copy) == 7  # Q8_0
    made = copy.stat().st_mtime_ns
    assert requantized(packaged, "q8_0") == copy and copy.stat().st_mtime_ns == made  # made once
    assert requantized(copy, "q8_0") == copy  # a file of that kind already is not copied again
    assert not list(copy.parent.glob("*.part"))
    config = load_config(overrides=["models.answer.requantize=q8_0", "models.answer.threads=1"])
    model = LlamaCppChatModel(config.models.answer)
    try:
        reply = model.generate([{"role": "user", "content": QUESTION}], 8, prefix="The answer is (",
                               first_word_choices=LETTERS)
        assert reply.text[len("The answer is ("):][:1] in LETTERS
    finally:
        model.close()
