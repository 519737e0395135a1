"""bench llm without models: the prompts it times and the ratios it reports."""

from voice_livemind.bench.common import load_questions
from voice_livemind.bench.llm import build_prompts, summarise
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
                "prompt_tokens": 300, "kept_reused_tokens": 240, "load_s": 0.5}
               for e, t, p, d, c, k in [("llama_cpp", 1, 100.0, 60.0, 3.0, 0.5), ("llama_cpp", 1, 120.0, 40.0, 2.0, 0.7),
                                        ("transformers", 1, 220.0, 10.0, 1.5, 0.4),
                                        ("llama_cpp", 2, 200.0, 100.0, 1.5, 0.3), ("transformers", 2, 400.0, 20.0, 0.75, 0.3)]]
    rows = {(r["engine"], r["threads"]): r for r in summarise(records)}
    llama1 = rows["llama_cpp", 1]
    assert (llama1["n"], llama1["prefill_tps"], llama1["decode_tps"]) == (2, 110.0, 50.0)  # medians
    assert llama1["prefill_x"] == 0.5 and llama1["decode_x"] == 5.0
    assert llama1["ttft_cold_x"] == 0.6  # transformers' time over llama's: < 1 is slower
    assert rows["llama_cpp", 2]["ttft_cold_x"] == 0.5 and rows["transformers", 2]["decode_x"] == 1.0
