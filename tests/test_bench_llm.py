"""bench llm without models: the prompts it times and the ratios it reports."""

from voice_livemind.bench.common import load_questions
import time

from voice_livemind.bench.llm import build_prompts, summarise, time_to_first_sentence
from voice_livemind.config import load_config
from voice_livemind.livemind.prompts import FINISHED


def test_the_answer_prompt_continues_the_notes_conversation_it_is_timed_against():
    config = load_config()
    question = load_questions(None)[0]
    p = build_prompts(question, config)
    assert p.answer[:-1] == p.notes and p.notes[0]["role"] == "system"
    assert p.answer[-1]["role"] == "user" and p.answer[-1]["content"].endswith(FINISHED)
    assert "A. " in p.answer[-1]["content"]  # the options arrive last, as in bench text
    assert (p.prefix, p.choices[:2]) == (config.answer.choice_prefix, ("A", "B"))
    assert p.baseline[0]["content"] == config.livemind.prompts.baseline_system


def test_ratios_are_against_transformers_at_the_same_thread_count():
    records = [{"engine": e, "threads": t, "prefill_tps": p, "decode_tps": d, "ttft_cold_s": c, "ttft_kept_s": k,
                "first_sentence_s": k * 2, "prompt_tokens": 300, "kept_reused_tokens": 240, "load_s": 0.5}
               for e, t, p, d, c, k in [("llama_cpp", 1, 100.0, 60.0, 3.0, 0.5), ("llama_cpp", 1, 120.0, 40.0, 2.0, 0.7),
                                        ("transformers", 1, 220.0, 10.0, 1.5, 0.4),
                                        ("llama_cpp", 2, 200.0, 100.0, 1.5, 0.3), ("transformers", 2, 400.0, 20.0, 0.75, 0.3)]]
    rows = {(r["engine"], r["threads"]): r for r in summarise(records)}
    llama1 = rows["llama_cpp", 1]
    assert (llama1["n"], llama1["prefill_tps"], llama1["decode_tps"]) == (2, 110.0, 50.0)  # medians
    assert llama1["prefill_x"] == 0.5 and llama1["decode_x"] == 5.0
    assert llama1["ttft_cold_x"] == 0.6  # transformers' time over llama's: < 1 is slower
    assert rows["llama_cpp", 2]["ttft_cold_x"] == 0.5 and rows["transformers", 2]["decode_x"] == 1.0
    assert llama1["first_sentence_s"] == 1.2 and llama1["first_sentence_x"] == 0.8 / 1.2


class TimedReply:
    """A model that says its reply a token every 20 ms of real time, checking the stop flag per token."""

    def __init__(self, tokens):
        self.tokens, self.said, self.calls = tokens, [], []

    def forget(self):
        self.calls.append("forget")

    def prefill(self, messages):
        self.calls.append(("prefill", len(messages)))

    def generate(self, messages, max_new_tokens, *, on_text=None, stop=None, **kwargs):
        for token in self.tokens[:max_new_tokens]:
            if stop is not None and stop.is_set():
                break
            time.sleep(0.02)
            self.said.append(token)
            on_text(token)


def test_the_first_sentence_is_timed_from_the_answer_start_to_the_chunkers_first_piece():
    config = load_config()  # tts.first_chunk_words 4: a first clause of 4 words is spoken at its comma
    p = build_prompts(load_questions(None)[0], config)
    model = TimedReply(["Paris", " is", " the", " capital", " of", " France.", " It", " has", " many", " museums."])
    seconds = time_to_first_sentence(model, p, config)
    assert model.calls == ["forget", ("prefill", len(p.notes))]  # the notes in the cache, as at the end of a turn
    assert model.said[-1] == " It" and 0.12 <= seconds < 0.5  # the sentence closes when the next word comes
    assert time_to_first_sentence(TimedReply(["Well"] * 5), p, config) is None
