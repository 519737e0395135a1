"""Load test of `serve`: N loopback clients stream a spoken question at once, for each N.

    .venv/bin/python -m voice_livemind.bench.load --sessions 1 2 4 8 --out runs/load [--config FILE] [--set K=V]

Per N: each session's first audio (the server's Latency event: from the end of speech to the first audio
sent), its median and worst, answers per minute (answered sessions over the wall time of the round), and
how many were refused (close code 1013). The capacity is the largest N whose median first audio stays within
`--tolerance` (1.5) x that of N = 1. Run it once per backend (in-process engine; `models.<role>.engine:
openai` with a serving engine) and compare the tables: with an engine backend the sessions' model calls go
out at once (server/models.py), in-process they take turns.

Writes OUT/table.md, OUT/summary.json, OUT/records.json and OUT/load.png.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

from voice_livemind.bench.report import markdown_table, write_json
from voice_livemind.cli_options import add_config_options, config_from_args

COLUMNS = [("sessions", "sessions"), ("answered", "answered"), ("refused", "refused"),
           ("first_audio_median_s", "first audio median (s)"), ("first_audio_max_s", "first audio worst (s)"),
           ("answers_per_min", "answers / min"), ("wall_s", "round (s)")]


async def one_round(url: str, samples, n: int, speed: float) -> dict:
    """N clients at once; their sessions' first audio and the round's throughput."""
    from voice_livemind.stream_client import stream

    start = time.monotonic()
    results = await asyncio.gather(*(stream(url, samples, speed=speed) for _ in range(n)))
    wall = time.monotonic() - start
    first_audio = []
    for result in results:
        latencies = [e.get("first_audio_s") for e in result.of("Latency") if e.get("first_audio_s") is not None]
        if latencies:
            first_audio.append(latencies[0])
    answered = sum(1 for r in results if r.answers)
    return {"sessions": n, "answered": answered, "refused": sum(1 for r in results if r.close_code == 1013),
            "errors": sum(len(r.of("Error")) for r in results), "first_audio_s": first_audio,
            "first_audio_median_s": statistics.median(first_audio) if first_audio else None,
            "first_audio_max_s": max(first_audio) if first_audio else None,
            "answers_per_min": 60.0 * answered / wall if wall > 0 else None, "wall_s": wall}


def capacity(rows: list[dict], tolerance: float = 1.5) -> int | None:
    """The largest N whose median first audio is within `tolerance` x N = 1's (every session answered)."""
    base = next((r["first_audio_median_s"] for r in rows if r["sessions"] == 1), None)
    if not base:
        return None
    fits = [r["sessions"] for r in rows if r["first_audio_median_s"] is not None and r["answered"] == r["sessions"]
            and r["first_audio_median_s"] <= tolerance * base]
    return max(fits) if fits else None


async def measure(make_server: Callable, samples, sessions: list[int], speed: float, warmup: bool = True) -> list[dict]:
    """One server (from `make_server()`, not started) for all rounds, one round per N, one after another,
    after a round of one client that is not counted (first calls allocate)."""
    server = make_server()
    await server.start()
    try:
        url = f"ws://127.0.0.1:{server.port}/ws"
        if warmup:
            await one_round(url, samples, 1, speed)
        rows = []
        for n in sessions:
            row = await one_round(url, samples, n, speed)
            rows.append(row)
            print(f"N={n}: {row['answered']}/{n} answered, first audio median {row['first_audio_median_s']}, "
                  f"{row['answers_per_min']:.1f} answers/min", file=sys.stderr)
        return rows
    finally:
        await server.stop()


def plot(rows: list[dict], path: Path, label: str) -> None:
    from voice_livemind.bench.report import pyplot

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    ns = [r["sessions"] for r in rows]
    left.plot(ns, [r["first_audio_median_s"] for r in rows], "o-", label=label)
    left.set(xlabel="concurrent sessions", ylabel="median first audio (s)", xscale="log", xticks=ns)
    left.set_xticklabels([str(n) for n in ns])
    right.plot(ns, [r["answers_per_min"] for r in rows], "o-", label=label)
    right.set(xlabel="concurrent sessions", ylabel="answers per minute", xscale="log", xticks=ns)
    right.set_xticklabels([str(n) for n in ns])
    left.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", nargs="+", type=int, default=[1, 2, 4, 8])
    parser.add_argument("--audio", default="audio_fixtures/short_question.wav")
    parser.add_argument("--speed", type=float, default=1.0, help="x real time the clients stream at (default 1)")
    parser.add_argument("--tolerance", type=float, default=1.5)
    parser.add_argument("--mode", default=None, help="answering mode (default: the config's)")
    parser.add_argument("--no-warmup", action="store_true", help="count the first round too")
    parser.add_argument("--out", default="runs/load")
    add_config_options(parser, example="models.answer.engine=openai")
    args = parser.parse_args(argv)

    from voice_livemind.audio.source import load_audio
    from voice_livemind.pipeline import load_backends
    from voice_livemind.server import VoiceServer

    config = config_from_args(args)
    mode = args.mode or config.mode
    samples = load_audio(args.audio)
    backends = load_backends(config, mode)
    engine = {config.models.inference.engine, config.models.answer.engine}
    label = "+".join(sorted(engine))
    rows = asyncio.run(measure(lambda: VoiceServer(config, backends, mode=mode, host="127.0.0.1", port=0,
                                                   max_sessions=max(args.sessions)),
                               samples, args.sessions, args.speed, warmup=not args.no_warmup))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fits = capacity(rows, args.tolerance)
    header = (f"load test: {args.audio}, mode {mode}, engine {label}, clients at {args.speed}x real time; capacity "
              f"(median first audio within {args.tolerance}x of N=1): {fits}")
    table = markdown_table(rows, COLUMNS)
    (out / "table.md").write_text(f"{header}\n\n{table}")
    write_json(out / "summary.json", {"engine": label, "mode": mode, "capacity": fits, "rows": rows})
    plot(rows, out / "load.png", label)
    print(f"{header}\n\n{table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
