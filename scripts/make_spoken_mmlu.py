"""Synthesize spoken MMLU-Pro questions (question, then "Options:" and each option) for `bench voice`.

Run: .venv/bin/python scripts/make_spoken_mmlu.py [--count N] [--out DIR]
Deterministic (Piper with no noise); the shortest questions of each category come first.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voice_livemind.bench.spoken import spoken_mmlu  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--count", type=int, default=14, help="how many questions (default 14: one per category)")
parser.add_argument("--out", default="runs/spoken_mmlu", help="output folder (default runs/spoken_mmlu)")
args = parser.parse_args()
for path in spoken_mmlu(args.out, args.count):
    print(path)
