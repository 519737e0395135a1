"""`voice-livemind bench soak`: one pipeline answering spoken questions for a long session.

Question fixtures (synthetic and real voices) are played one after another, each followed by `--gap-s` of
silence, into a single pipeline (the real models, the fast clock: compute takes its real time, silence
none) for `--minutes` of input. The pipeline keeps the events of its last turn only, as `listen` and
`serve` do. After every turn: the process's resident memory and the turn's latencies from the clip's true
end of speech. Reported: turns answered of turns asked, memory growth after warm-up, and first audio in
the first vs the last ten minutes (drift).

Writes DIR/turns.jsonl, DIR/summary.json, DIR/table.md and DIR/soak.png.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path

import numpy as np

from voice_livemind.audio.source import ArraySource, AudioFrame, frames_of
from voice_livemind.bench.common import FIXTURES
from voice_livemind.bench.report import markdown_table, percentile, pyplot, write_json
from voice_livemind.cli_options import add_config_options, config_from_args

CLIPS = ("short_question", "real_example6", "multi_sentence", "real_example1", "long_question", "real_example2",
         "mmlu_choice", "real_example5")
WARM_UP_TURNS = 5  # memory is compared with the first sample after these (allocators, caches and pools fill)
WINDOW_MIN = 10.0  # first vs last ten minutes


def add_arguments(parser) -> None:
    parser.add_argument("--minutes", type=float, default=30.0, help="minutes of input (default 30)")
    parser.add_argument("--gap-s", type=float, default=8.0, help="silence after each question (default 8 s)")
    parser.add_argument("--mode", choices=["livemind", "direct", "baseline"], default="livemind")
    parser.add_argument("--out", default="runs/soak", help="output folder (default runs/soak)")
    add_config_options(parser, example="answer.max_new_tokens=96")


def resident_mb() -> float | None:
    """This process's resident set size (Linux /proc), MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class ClipCycle(ArraySource):
    """A `FrameSource`: the clips over and over, each followed by `gap_s` of silence, for `total_s` seconds
    of input. An `ArraySource` whose frames are queued a clip at a time as they are needed (a 30-minute signal
    is never held whole); `placed` keeps where the latest clips' speech ended on the input's timeline."""

    def __init__(self, clips: list[tuple[str, np.ndarray, float]], gap_s: float, total_s: float, frame_ms: int):
        super().__init__(np.zeros(0, np.float32), frame_ms)
        self.clips, self.gap_s, self.total_s = clips, gap_s, total_s
        self.frame_ms, self.step = frame_ms, 16000 * frame_ms // 1000
        self.placed: deque[tuple[str, float, float]] = deque(maxlen=8)  # (name, start, true speech end)
        self.played = 0
        self._samples = 0  # samples handed out or queued

    def _fill(self) -> None:
        """Queue the next clip and its silence once the queue is empty and input time is left."""
        if self._frames or self._samples / 16000 >= self.total_s:
            return
        name, samples, speech_end = self.clips[self.played % len(self.clips)]
        self.played += 1
        start = self._samples / 16000
        self.placed.append((name, start, start + speech_end))
        signal = np.concatenate([samples, np.zeros(int(self.gap_s * 16000), np.float32)])
        frames = [AudioFrame(start + f.t, f.samples) for f in frames_of(signal, self.frame_ms)]
        self._frames.extend(frames)
        self._samples += len(frames) * self.step

    @property
    def exhausted(self) -> bool:
        self._fill()
        return super().exhausted

    def ready(self, now: float) -> list:
        out = []
        while True:  # a clip's last frames may be followed by the next clip's within the same call
            self._fill()
            batch = super().ready(now)
            if not batch:
                return out
            out += batch

    def next_arrival(self) -> float:
        self._fill()
        return super().next_arrival()

    def true_end(self, audio_t: float) -> tuple[str, float] | None:
        """The clip whose speech ended last before `audio_t` (a turn's detected end): its name and true end."""
        before = [(name, end) for name, start, end in self.placed if start <= audio_t]
        return before[-1] if before else None


def load_clips(folder: Path) -> list[tuple[str, np.ndarray, float]]:
    from voice_livemind.audio.source import load_audio, read_sidecar

    clips = []
    for name in CLIPS:
        path = folder / f"{name}.wav"
        sidecar = read_sidecar(path)
        if sidecar is None or sidecar.speech_end is None:
            raise ValueError(f"{path}: needs a sidecar with speech_end")
        clips.append((name, load_audio(path), sidecar.speech_end))
    return clips


class TurnRecorder:
    """`on_event`: the events of the turn under way; at its TurnDone one row of latency and memory."""

    def __init__(self, source: ClipCycle, out):
        self.source, self.out = source, out
        self.rows: list[dict] = []
        self._events: list = []

    def __call__(self, event) -> None:
        from voice_livemind import events as ev
        from voice_livemind.metrics import turn_latency

        self._events.append(event)
        if not isinstance(event, ev.TurnDone):
            return
        events, self._events = self._events, []
        ended = next((e for e in events if isinstance(e, ev.SpeechEnded)), None)
        if ended is None:
            return
        clip = self.source.true_end(ended.audio_t)
        answered = any(isinstance(e, ev.AnswerDone) for e in events)
        row = {"turn": event.turn, "clip": clip[0] if clip else None, "audio_t": round(ended.audio_t, 2),
               "answered": answered, "rss_mb": resident_mb()}
        if answered:
            latency = turn_latency(events, event.turn, clip[1] if clip else None)
            row.update({k: latency[k] for k in ("eou_detected_s", "first_audio_s", "answer_done_s", "notes")})
        self.rows.append(row)
        self.out.write(json.dumps(row) + "\n")
        self.out.flush()


def summarise(rows: list[dict], asked: int, minutes: float) -> dict:
    answered = [r for r in rows if r["answered"]]
    memory = [r["rss_mb"] for r in rows[WARM_UP_TURNS:] if r["rss_mb"] is not None]
    first = [r["first_audio_s"] for r in answered if r["audio_t"] < WINDOW_MIN * 60]
    last = [r["first_audio_s"] for r in answered if r["audio_t"] >= (minutes - WINDOW_MIN) * 60]

    def median(values):
        return round(percentile(values, 50), 3) if values else None

    summary = {
        "minutes": minutes, "questions_asked": asked, "turns": len(rows), "turns_answered": len(answered),
        "rss_after_warm_up_mb": round(memory[0], 1) if memory else None,
        "rss_end_mb": round(memory[-1], 1) if memory else None,
        "rss_max_mb": round(max(memory), 1) if memory else None,
        "first_audio_median_first_10_min_s": median(first),
        "first_audio_median_last_10_min_s": median(last),
    }
    if memory:
        summary["rss_growth_pct"] = round(100 * (memory[-1] - memory[0]) / memory[0], 2)
    if first and last:
        summary["first_audio_drift_pct"] = round(100 * (median(last) - median(first)) / median(first), 1)
    return summary


def plot(rows: list[dict], path: Path) -> None:
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    minutes = [r["audio_t"] / 60 for r in rows]
    top.plot(minutes, [r["rss_mb"] for r in rows], marker=".")
    top.set_ylabel("resident memory (MiB)")
    answered = [r for r in rows if r["answered"]]
    bottom.plot([r["audio_t"] / 60 for r in answered], [r["first_audio_s"] for r in answered], ".", label="first audio")
    bottom.set_ylabel("s after the true end")
    bottom.set_xlabel("input time (min)")
    bottom.legend()
    top.set_title("bench soak: one pipeline, questions one after another")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run(args) -> int:
    from tqdm import tqdm

    from voice_livemind.asr.whisper_backend import FasterWhisperBackend
    from voice_livemind.audio.sink import NullSink
    from voice_livemind.bench.common import load_models
    from voice_livemind.bench.voice import mode_backends
    from voice_livemind.clock import FastForwardClock
    from voice_livemind.pipeline import Pipeline
    from voice_livemind.tts.piper_backend import PiperTTS

    config = config_from_args(args)
    try:
        clips = load_clips(FIXTURES)
    except ValueError as err:
        print(f"input error: {err}")
        return 3
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    large, small = load_models(config, small=args.mode == "direct")
    shared = {"config": config, "asr": FasterWhisperBackend(config.asr), "tts": PiperTTS(config.tts)}
    pipeline_mode, backends = mode_backends(args.mode, shared, large, small)
    source = ClipCycle(clips, args.gap_s, args.minutes * 60, config.vad.frame_ms)
    with open(out / "turns.jsonl", "w") as log, tqdm(total=round(args.minutes, 1), desc="bench soak", unit="min") as bar:
        recorder = TurnRecorder(source, log)

        def on_event(event) -> None:
            recorder(event)
            bar.n = round(min(args.minutes, source.next_arrival() / 60), 1)
            bar.refresh()

        pipeline = Pipeline(config, backends, FastForwardClock(), NullSink(), mode=pipeline_mode, on_event=on_event,
                            keep_turns=1)
        pipeline.run_source(source)
    summary = summarise(recorder.rows, source.played, args.minutes)
    summary["mode"], summary["gap_s"], summary["events_kept_at_end"] = args.mode, args.gap_s, len(pipeline.events)
    write_json(out / "summary.json", summary)
    plot(recorder.rows, out / "soak.png")
    table = markdown_table([{"metric": k, "value": v} for k, v in summary.items()], [("metric", "metric"), ("value", "value")])
    (out / "table.md").write_text(table + "\n")
    print(table)
    print(f"written to {out}/ (turns.jsonl, summary.json, table.md, soak.png)")
    return 0 if summary["turns_answered"] else 1
