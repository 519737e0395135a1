"""The output stage of every mode (pipeline.answer.answer_request), as the pipeline and bench text ask it:
answer-first (the default) and the paper's comparison (answer.output: paper)."""

from voice_livemind.clock import VirtualClock
from voice_livemind.config import load_config
from voice_livemind.livemind.loop import LiveMindLoop
from voice_livemind.livemind.memory import Entry
from voice_livemind.modes import Mode
from voice_livemind.pipeline.answer import answer_request, output_system
from tests.fakes import ScriptedChatModel

QUESTION = "Which planet is the largest? Options: A. Mars B. Jupiter C. Venus D. Earth."


def loop_for(config, notes: list[Entry]) -> LiveMindLoop:
    loop = LiveMindLoop(ScriptedChatModel(VirtualClock(), ["action wait."]), config.livemind,
                        answer_system=output_system(config))
    for entry in notes:
        loop.memory.add(entry)
    return loop


def request(mode, output="answer_first", notes=()):
    config = load_config(overrides=[f"answer.output={output}"])
    return config, answer_request(config, mode, QUESTION, loop_for(config, list(notes)), [])


NOTE = Entry(("Which planet is the largest?",), "inference", "Jupiter is the largest planet.")


def test_answer_first_livemind_and_direct_share_the_forced_start_and_the_sentence_cap():
    for mode in (Mode.LIVEMIND, Mode.DIRECT):
        config, r = request(mode, notes=[NOTE])
        assert (r.prefix, r.choices) == ("The answer is (", tuple("ABCD"))
        assert r.max_sentences == config.answer.max_sentences == 2
    config, r = request(Mode.BASELINE)
    assert (r.prefix, r.choices, r.max_sentences) == ("", (), 0)
    assert r.messages[0]["content"] == config.livemind.prompts.baseline_system


def test_paper_every_mode_answers_freely_and_livemind_uses_the_authors_output_prompt():
    config, livemind = request(Mode.LIVEMIND, "paper", notes=[NOTE])
    assert (livemind.prefix, livemind.choices, livemind.max_sentences) == ("", (), 0)
    # multi-turn layout: the output prompt is part of the one system prompt the notes used too
    assert config.livemind.prompts.output_system in livemind.messages[0]["content"]
    assert config.livemind.prompts.answer_system not in livemind.messages[0]["content"]
    assert any(m["role"] == "assistant" and "Jupiter" in m["content"] for m in livemind.messages)
    for mode in (Mode.DIRECT, Mode.BASELINE):
        _, r = request(mode, "paper")
        assert (r.prefix, r.choices, r.max_sentences) == ("", (), 0)


def test_paper_livemind_without_a_note_falls_back_to_chain_of_thought():
    config, r = request(Mode.LIVEMIND, "paper", notes=[Entry(("Which planet is the largest?",), "wait", "")])
    _, baseline = request(Mode.BASELINE, "paper")
    assert r.messages == baseline.messages
    assert r.messages[0]["content"] == config.livemind.prompts.baseline_system
    # answer-first keeps the answer prompt even without a note
    _, first = request(Mode.LIVEMIND, notes=[])
    assert first.prefix == "The answer is ("
