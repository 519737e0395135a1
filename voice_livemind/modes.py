"""The pipeline's modes: the one list every other module (config, CLI, benchmarks) reads."""

from __future__ import annotations

import enum


class Mode(str, enum.Enum):
    LIVEMIND = "livemind"  # notes while the user speaks, then the answer from them
    BASELINE = "baseline"  # the same pipeline without LiveMind: reasons step by step after the end (the paper's)
    DIRECT = "direct"  # no LiveMind and no reasoning: the answer prompt alone (the fastest naive pipeline)
    TRANSCRIBE = "transcribe"  # recognition only (benchmarks)

    @classmethod
    def parse(cls, value: "str | Mode") -> "Mode":
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown mode {value!r}: use one of {', '.join(NAMES)}") from None


NAMES = tuple(m.value for m in Mode)
ANSWERING = tuple(m.value for m in Mode if m is not Mode.TRANSCRIBE)  # the modes that answer
