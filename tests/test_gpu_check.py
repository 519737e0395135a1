"""scripts/gpu_check.py on the CPU: the transformers engine's protocol features on a random tiny Llama
(built by the script, no download), and the greedy-equivalence step (here: cold vs prefilled cache)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_check_passes_on_the_cpu():
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--device", "cpu", "--tokens", "12"],
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    for check in ("forced prefix", "constrained first word", "banned first word", "stop flag", "stoppable prefill",
                  "kept-prefix reuse", "snapshot/restore", "streaming", "equivalence"):
        assert f"ok   {check}" in run.stdout, run.stdout
    assert "all checks passed" in run.stdout


def test_gpu_check_without_a_gpu_says_so():
    import torch

    if torch.cuda.is_available():
        return
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--device", "cuda"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "sees no CUDA GPU" in run.stderr


def test_stop_guard_answers_on_the_device_of_the_ids():
    """generate() ANDs the guard's flags with its own on the model's device: a CPU tensor failed every call
    on CUDA (found by the first run of gpu_check.sh on an H200). The meta device stands in for the GPU."""
    import torch

    from voice_livemind.llm.transformers_backend import _StopGuard

    class NoTokenizer:
        def decode(self, ids, skip_special_tokens=True):
            return ""

    class IdsOnMeta:  # token ids said to live on another device (the guard reads them, then answers there)
        shape = (2, 5)
        device = torch.device("meta")

        def __getitem__(self, index):
            return torch.zeros((2, 5), dtype=torch.long)[index]

    guard = _StopGuard(NoTokenizer(), prompt_len=3, stop=None, newline_ids=set(), stop_when_answered=False)
    flags = guard(IdsOnMeta(), None)
    assert flags.device == torch.device("meta") and flags.shape == (2,) and flags.dtype == torch.bool


def test_the_stop_guard_ends_a_reply_the_caller_calls_whole():
    from voice_livemind.llm.transformers_backend import _StopGuard

    class Words:
        def decode(self, ids, skip_special_tokens=True):
            return " ".join(f"w{i}" for i in ids)

    guard = _StopGuard(Words(), prompt_len=0, stop=None, newline_ids=set(), stop_when_answered=False,
                       prefix="action", stop_at=lambda reply: " " in reply)
    assert guard._check([7]) is None  # "actionw7"
    assert guard._check([7, 8]) == "complete"  # "actionw7 w8"


def test_gpu_speed_runs_on_the_cpu():
    """scripts/gpu_speed.py measures the engine with model-shaped random weights; on the CPU with the tiny
    shape it must print every measurement (its numbers are for the GPU box: README, "On a GPU box")."""
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_speed.py"), "--device", "cpu", "--dtype",
                          "float32", "--shapes", "tiny", "--batches", "1,2", "--new-tokens", "4", "--runs", "1"],
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    for line in ("prefill", "first token", "decode", "batch   1", "batch   2"):
        assert line in run.stdout, run.stdout
    assert "315 of 333 reused" in run.stdout  # the notes' prefix was kept for the answer's first token
