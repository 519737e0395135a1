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
