"""Shared pieces of the benchmark reports: summary statistics, markdown tables, plots."""

from __future__ import annotations

import json
import statistics
from pathlib import Path


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100) of the values; None when there are none."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    position = (len(data) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (position - low)


def mean(values: list[float]) -> float | None:
    data = [v for v in values if v is not None]
    return statistics.fmean(data) if data else None


def reduction(new: float | None, old: float | None) -> float | None:
    """Relative reduction of `new` against `old` in percent (positive: new is lower)."""
    if new is None or not old:
        return None
    return 100.0 * (1.0 - new / old)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """95% confidence interval of a proportion (Wilson score): honest with few questions and rates near 0."""
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_text(successes: int, n: int) -> str:
    """"0.114 [0.059-0.209]": the accuracy with its 95% interval, as every accuracy figure is shown."""
    interval = wilson_interval(successes, n)
    if interval is None:
        return "n/a"
    return f"{successes / n:.3f} [{interval[0]:.3f}-{interval[1]:.3f}]"


def rounded(value, digits: int = 3):
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


def markdown_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """`columns` are (key, header) pairs; floats get 2-3 significant decimals, None is shown as n/a."""

    def cell(value):
        if value is None:
            return "n/a"
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
        return str(value)

    lines = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(k)) for k, _ in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(rounded(data), indent=2) + "\n")


def pyplot():
    """matplotlib with a file-only backend (benchmarks run headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
