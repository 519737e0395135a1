"""Benchmarks: `voice-livemind bench NAME`. Each module here has `add_arguments(parser)` and `run(args) -> int`.

They print and write numbers; they never assert on timings (that is what tests are for, with a virtual clock).
Run them alone: anything else busy on the same cores distorts every timing.
"""

BENCHMARKS = {
    # name: (module, help)
    "asr": ("voice_livemind.bench.asr", "streaming ASR and end of utterance: WER, commit lag, EOU delay, false cut-offs"),
    "voice": ("voice_livemind.bench.voice", "voice in to voice out in every mode: first-audio and answer latency"),
    "text": ("voice_livemind.bench.text", "LiveMind on streamed MMLU-Pro text vs the baseline (the paper's method)"),
    "turns": ("voice_livemind.bench.turns", "end of turn on real speech: delay after true ends vs false cut-offs at pauses, noise"),
    "soak": ("voice_livemind.bench.soak", "a long session through one pipeline: memory, latency drift, every turn answered"),
    "llm": ("voice_livemind.bench.llm", "chat-model engines (llama.cpp, transformers): prefill, decode, time to first token"),
}
