"""LiveMind building blocks: reply parsing, inference memory, and prompt layouts."""

import pytest

from voice_livemind.livemind.actions import (COMPLETE, SIMPLIFIED, Action, action_set, first_sentences, parse_reply,
                                             reply_complete)
from voice_livemind.livemind.memory import Entry, InferenceMemory
from voice_livemind.livemind.prompts import answer_messages, baseline_messages, inference_messages

# --- actions -----------------------------------------------------------------------------------------


def test_action_sets():
    assert action_set("simplified") == ("inference", "wait")
    assert action_set("complete") == ("background", "inference", "hypothesize", "wait")
    with pytest.raises(KeyError):
        action_set("other")


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("action inference. note", Action("inference", "note", True)),
        ("action wait.", Action("wait", "", True)),
        ("Action Inference: note", Action("inference", "note", True)),
        ("ACTION WAIT", Action("wait", "", True)),
        ("action wait. extra text", Action("wait", "", True)),  # wait carries no text
        ("  action inference.  The user wants a capital city.  ", Action("inference", "The user wants a capital city.", True)),
        ("action: inference - x is 3.5", Action("inference", "x is 3.5", True)),
        ("action inference.", Action("inference", "", True)),
        ("action inference. line one\nline two", Action("inference", "line one\nline two", True)),
    ],
)
def test_parse_reply_formatted(reply, expected):
    assert parse_reply(reply) == expected


@pytest.mark.parametrize(
    "reply",
    [
        "The capital of France is Paris.",
        "action dance. x",  # unknown action under the simplified set
        "action background. the user is asking about geography",  # complete-set action, simplified set
        "action hypothesize. maybe Paris",
        "Sure! action inference. x",  # the format must open the reply
        "action waiting for more",  # "waiting" is not "wait"
        "",
    ],
)
def test_parse_reply_unformatted_is_kept_whole_as_inference(reply):
    assert parse_reply(reply) == Action("inference", reply.strip(), False)


def test_parse_reply_garbage_is_stripped():
    assert parse_reply("  garbage here \n") == Action("inference", "garbage here", False)


def test_complete_set_accepts_background_and_hypothesize():
    assert parse_reply("action background. geography question", COMPLETE) == Action("background", "geography question", True)
    assert parse_reply("Action Hypothesize: maybe Paris", COMPLETE) == Action("hypothesize", "maybe Paris", True)
    assert parse_reply("action wait. x", COMPLETE) == Action("wait", "", True)
    assert parse_reply("action dance. x", COMPLETE) == Action("inference", "action dance. x", False)


def test_a_reply_that_names_a_second_action_takes_it():
    # SmolLM2 chose " inference" under the constraint, then wrote its real choice (seen in replays)
    assert parse_reply("action inference. action wait. actions of action.") == Action("wait", "", True)
    assert parse_reply("action inference. Action items are due.") == Action("inference", "Action items are due.", True)


@pytest.mark.parametrize(
    "text, n, expected",
    [
        ("The car's speed is 60 km/h. It", 1, "The car's speed is 60 km/h."),
        ("The car's speed is 60 km/h.", 1, None),  # the end is known only once a space follows it
        ("x is 3.5 and y", 1, None),
        ("Is it Paris? Yes. Then", 2, "Is it Paris? Yes."),
        ('He said "stop." Then', 1, 'He said "stop."'),
        ("One. Two. Three", 0, None),
    ],
)
def test_first_sentences(text, n, expected):
    assert first_sentences(text, n) == expected


def test_reply_complete_at_wait_or_the_first_sentence():
    assert reply_complete("action wait", SIMPLIFIED, 1)
    assert not reply_complete("action", SIMPLIFIED, 1)
    assert not reply_complete("action inference. The field is", SIMPLIFIED, 1)
    assert reply_complete("action inference. The field is 120 m long. It", SIMPLIFIED, 1)
    assert not reply_complete("action inference. The field is 120 m long. It", SIMPLIFIED, 2)
    assert not reply_complete("action inference. The field is 120 m long. It", SIMPLIFIED, 0)
    assert not reply_complete("Sure. The field is long. It", SIMPLIFIED, 1)  # not the format: the cap decides


def test_default_allowed_set_is_simplified():
    assert parse_reply("action background. x") == parse_reply("action background. x", SIMPLIFIED)
    assert parse_reply("action background. x").parsed is False


# --- memory ------------------------------------------------------------------------------------------


def memory_of(*entries: Entry) -> InferenceMemory:
    memory = InferenceMemory()
    for entry in entries:
        memory.add(entry)
    return memory


A = Entry(("What is the capital of France?",), "inference", "The user asks for a capital.")
B = Entry(("I think it is Paris,", "but I am not sure."), "wait", "")
C = Entry(("Is it Lyon?",), "inference", "Lyon is not the capital.")


def test_empty_memory():
    memory = InferenceMemory()
    assert memory.covered() == 0
    assert memory.notes() == []
    assert memory.align(["anything"]) == 0
    assert memory.align([]) == 0


def test_covered_counts_segments():
    assert memory_of(A).covered() == 1
    assert memory_of(A, B).covered() == 3
    assert memory_of(A, B, C).covered() == 4


def test_notes_skip_wait_entries_and_empty_text():
    empty = Entry(("x y z w v u",), "inference", "")
    hyp = Entry(("More words here.",), "hypothesize", "Maybe Paris.")
    assert memory_of(A, B, empty, C, hyp).notes() == ["The user asks for a capital.", "Lyon is not the capital.", "Maybe Paris."]


def test_align_keeps_matching_prefix():
    memory = memory_of(A, B, C)
    segments = ["What is the capital of France?", "I think it is Paris,", "but I am not sure.", "Is it Lyon?", "Or Nice?"]
    assert memory.align(segments) == 0
    assert memory.entries == [A, B, C]
    assert memory.covered() == 4


def test_align_drops_from_the_first_mismatch_on():
    memory = memory_of(A, B, C)
    segments = ["What is the capital of France?", "I think it is Paris,", "but I am sure.", "Is it Lyon?"]
    assert memory.align(segments) == 2  # B no longer matches, so B and C (written after it) go
    assert memory.entries == [A]
    assert memory.covered() == 1
    assert memory.notes() == ["The user asks for a capital."]


def test_align_first_entry_mismatch_drops_everything():
    memory = memory_of(A, B, C)
    assert memory.align(["What is the capital of Spain?", "I think it is Paris,", "but I am not sure.", "Is it Lyon?"]) == 3
    assert memory.entries == []
    assert memory.covered() == 0


def test_align_drops_entries_beyond_shorter_segments():
    memory = memory_of(A, B, C)
    # the segmenter re-merged: only the first segment is still there
    assert memory.align(["What is the capital of France?", "I think it is Paris, but I am not sure."]) == 2
    assert memory.entries == [A]


def test_align_with_no_segments_drops_everything():
    memory = memory_of(A, B)
    assert memory.align([]) == 2
    assert memory.entries == []


def test_align_partial_entry_span_is_a_mismatch():
    memory = memory_of(A, B)
    # B covered two segments; only the first of them is present now
    assert memory.align(["What is the capital of France?", "I think it is Paris,"]) == 1
    assert memory.entries == [A]


# --- prompts -----------------------------------------------------------------------------------------

SEGMENTS = ["What is the capital of France?", "I think it is Paris,"]
NOTE = Entry(("What is the capital of France?",), "inference", "The user asks for a capital.")
WAIT = Entry(("Hello there.",), "wait", "")


def test_single_layout_inference_messages_exact():
    assert inference_messages("single", "SYS", [NOTE], SEGMENTS) == [
        {"role": "system", "content": "SYS"},
        {
            "role": "user",
            "content": "Incomplete prompt: What is the capital of France? I think it is Paris,\n\n"
            "Previous inferences:\n(1) The user asks for a capital.",
        },
    ]


def test_single_layout_numbering_skips_waits_and_says_when_there_are_none():
    two = [Entry(("a",), "inference", "one"), WAIT, Entry(("b",), "background", "two")]
    assert inference_messages("single", "S", two, ["a", "Hello there.", "b", "c"])[1]["content"] == (
        "Incomplete prompt: a Hello there. b c\n\nPrevious inferences:\n(1) one\n(2) two"
    )
    assert inference_messages("single", "S", [], ["a b"])[1]["content"] == (
        "Incomplete prompt: a b\n\nPrevious inferences:\n(none yet)"
    )


def test_multi_turn_layout_inference_messages_exact():
    entries = [NOTE, WAIT]
    segments = ["What is the capital of France?", "Hello there.", "I think it is Paris,"]
    # The wait entry has no assistant turn: its segment folds into the next user turn.
    assert inference_messages("multi_turn", "SYS", entries, segments) == [
        {"role": "system", "content": "SYS"},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "action inference. The user asks for a capital."},
        {"role": "user", "content": "Hello there. I think it is Paris,"},
    ]


def test_single_layout_answer_messages_exact():
    segments = ["What is the capital of France?", "I think it is Paris,", "but I am not sure."]
    assert answer_messages("single", "ANS", [NOTE], segments) == [
        {"role": "system", "content": "ANS"},
        {
            "role": "user",
            "content": "What is the capital of France? I think it is Paris, but I am not sure.\n\n"
            "Notes made while listening:\n(1) The user asks for a capital.",
        },
    ]


def test_multi_turn_layout_answer_messages_exact():
    segments = ["What is the capital of France?", "Hello there.", "Paris?"]
    # The notes conversation continues unchanged (same system prompt, which holds the answer rule: its
    # cache is reusable); only the final segments and the "finished" marker come after it.
    assert answer_messages("multi_turn", "ANS", [NOTE, WAIT], segments, inference_system="SYS") == [
        {"role": "system", "content": "SYS"},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "action inference. The user asks for a capital."},
        {"role": "user", "content": "Hello there. Paris? (The user has finished speaking.)"},
    ]


def test_answer_messages_without_notes_is_the_transcript_alone():
    assert answer_messages("single", "ANS", [], ["Hello?"]) == [
        {"role": "system", "content": "ANS"},
        {"role": "user", "content": "Hello?"},
    ]
    assert answer_messages("multi_turn", "ANS", [WAIT], ["Hello there.", "Hi?"], inference_system="SYS") == [
        {"role": "system", "content": "SYS"},
        {"role": "user", "content": "Hello there. Hi? (The user has finished speaking.)"},
    ]


def test_multi_turn_system_prompt_holds_the_answer_rule():
    from voice_livemind.livemind.prompts import multi_turn_system

    assert multi_turn_system("NOTES", "ANS") == 'NOTES\n\nOnce the user\'s message ends with "(The user has finished speaking.)": ANS'


def test_baseline_messages_exact():
    assert baseline_messages("BASE", "What is the capital of France?") == [
        {"role": "system", "content": "BASE"},
        {"role": "user", "content": "What is the capital of France?"},
    ]


# --- answer first on lettered options -----------------------------------------------------------------

from voice_livemind.livemind.prompts import answer_start, option_letters  # noqa: E402


def test_option_letters_in_written_and_spoken_option_lists():
    assert option_letters("Which one?\nA. 0\nB. 30\nC. 3\nD. 10") == "ABCD"
    assert option_letters("SHA one has a digest. A 628 bits. B 700 bits C 160 bits D 256 bits") == "ABCD"
    assert option_letters("A: x B: y C: z") == "ABC"
    assert option_letters("SHA1 has a message digestive options. a 628 bits. B 700 bits C 160 bits.") == "ABC"
    assert option_letters("Options. a. 628 bits. B. 780 bits. C. 160 bits.") == "ABC"
    assert option_letters("Options. a 628 bits. the G80 bits C 160 bits. D. 256 bits.") == "ABCD"  # B misheard
    # after "options", letters as Whisper writes them when they are read aloud
    assert option_letters("Which cavity? options a ventral b dorsal C. buckle d thoracic D Pericardio. "
                          "F abdominal G spinal H pelvic I pleural J cranial") == "ABCDEFGHIJ"
    assert option_letters("Find it. Options A 0 B 30 C3 D10 D12. F50 G2 H100 I 20 J 5.") == "ABCDEFGHIJ"
    assert option_letters("assume so. Options 8-10.-V-A-C-4-D D12.-F3 G16,-H5.-I-24. J-6.") == "ABCDEFGHIJ"


def test_no_option_letters_in_ordinary_speech():
    assert option_letters("I have a question. A farmer has a field. I think Bob is right.") == ""
    assert option_letters("Is it plan A or plan B?") == ""  # two letters are not an option list
    assert option_letters("I have a cat, B is my dog and C is a bird.") == ""  # "a cat": the article
    assert option_letters("A. one. C. two. F. three.") == ""  # too far apart for an option list
    assert option_letters("What are my options for a trip to Japan? I have a week.") == ""


def test_answer_start_only_for_lettered_options_and_when_enabled():
    assert answer_start("Q?\nA. x\nB. y\nC. z", "The answer is (") == ("The answer is (", ("A", "B", "C"))
    assert answer_start("What is the capital of France?", "The answer is (") == ("", ())
    assert answer_start("Q?\nA. x\nB. y\nC. z", "") == ("", ())


# The three layouts of the paper's ablation beside single (u-pi) and multi_turn (ua-spi), as the authors'
# formatter builds them (live_mind/formatter/functions.py): two notes, a wait after them, a new segment.
TWO_NOTES_AND_A_WAIT = [Entry(("A farmer has a field.",), "inference", "A field problem."),
                        Entry(("It is 120 m long.",), "inference", "Length 120 m."),
                        Entry(("Hello.",), "wait", "")]
ALL_SEGMENTS = ["A farmer has a field.", "It is 120 m long.", "Hello.", "How wide is it?"]


def test_u_pli_layout_exact():
    assert inference_messages("u-pli", "SYS", TWO_NOTES_AND_A_WAIT, ALL_SEGMENTS) == [
        {"role": "system", "content": "SYS"},
        {"role": "user", "content": "Previous prompt: A farmer has a field. It is 120 m long.\n"
                                    "New prompt: Hello. How wide is it?\n"
                                    "Previous inferences: (1) A field problem. (2) Length 120 m."},
    ]
    assert inference_messages("u-pli", "SYS", [], ["Hi there."])[1]["content"] == "New prompt: Hi there."


def test_u_spi_layout_exact():
    assert inference_messages("u-spi", "SYS", TWO_NOTES_AND_A_WAIT, ALL_SEGMENTS)[1] == {
        "role": "user", "content": "Prompt: A farmer has a field.\nInference: A field problem.\n"
                                   "Prompt: It is 120 m long.\nInference: Length 120 m.\n"
                                   "Prompt: Hello. How wide is it?"}


def test_ua_pil_layout_exact():
    assert inference_messages("ua-pil", "SYS", TWO_NOTES_AND_A_WAIT, ALL_SEGMENTS)[1:] == [
        {"role": "user", "content": "A farmer has a field. It is 120 m long."},
        {"role": "assistant", "content": "A field problem. Length 120 m."},
        {"role": "user", "content": "Hello. How wide is it?"},
    ]
    # nothing noted yet: one user turn with every segment
    assert inference_messages("ua-pil", "SYS", [WAIT], ["Hello there.", "Hi?"])[1:] == [
        {"role": "user", "content": "Hello there. Hi?"}]


def test_the_output_stage_of_the_paper_layouts_puts_its_own_system_prompt_before_the_same_turns():
    for layout in ("u-pli", "u-spi", "ua-pil"):
        notes = inference_messages(layout, "SYS", TWO_NOTES_AND_A_WAIT, ALL_SEGMENTS)
        assert answer_messages(layout, "OUT", TWO_NOTES_AND_A_WAIT, ALL_SEGMENTS, inference_system="SYS") == [
            {"role": "system", "content": "OUT"}, *notes[1:]]


def test_an_unknown_layout_is_an_error_naming_the_choices():
    with pytest.raises(ValueError, match="u-pli"):
        inference_messages("u-xyz", "SYS", [NOTE], SEGMENTS)
