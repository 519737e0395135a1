"""`voice-livemind replay`: run one recorded question through the pipeline and write every artefact."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from voice_livemind import events as ev
from voice_livemind.audio.sink import WavSink
from voice_livemind.audio.source import load_audio, read_sidecar
from voice_livemind.clock import make_clock
from voice_livemind.config import Config
from voice_livemind.metrics import final_transcripts, turn_latency
from voice_livemind.pipeline import Backends, Pipeline


class NoSpeechError(RuntimeError):
    """The audio held no speech the VAD and the recogniser could turn into a question."""


@dataclass
class ReplayResult:
    out_dir: Path
    latency: dict
    transcript: str
    answer: str
    notes: list[str]


def notes_line(result: ReplayResult) -> str:
    """The notes of the (first) turn for the summary, with their coverage at the end of speech, e.g.
    "3 written while listening, covering 4 of 5 segments closed before the end of speech"."""
    line = f"{len(result.notes)} written while listening"
    closed = result.latency.get("segments_closed", 0)
    if closed:
        line += (f", covering {result.latency.get('segments_noted', 0)} of {closed} segment"
                 f"{'s' if closed != 1 else ''} closed before the end of speech")
    return line


class _LiveReport:
    """Progress for a person watching: a bar over the input audio, plus what is heard, noted and said."""

    def __init__(self, duration: float, stream=sys.stderr, enabled: bool = True):
        self.enabled = enabled
        self._bar = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=round(duration, 1), unit="s audio", file=stream, leave=False,
                             bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s audio")
        self._answer_started = False

    def __call__(self, event: ev.Event) -> None:
        if not self.enabled:
            return
        position = min(self._bar.total, round(event.t, 1))
        if position != self._bar.n:
            self._bar.n = position
            self._bar.refresh()
        line = None
        if isinstance(event, ev.SpeechStarted):
            line = f"[{event.t:6.2f}s] speech started"
        elif isinstance(event, ev.TranscriptUpdate):
            tag = "final" if event.final else "heard"
            line = f"[{event.t:6.2f}s] {tag}: {event.stable}" + (f" ~{event.unstable}" if event.unstable else "")
        elif isinstance(event, ev.Note):
            line = f"[{event.t:6.2f}s] note ({event.action}): {event.text}"
        elif isinstance(event, ev.SpeechEnded):
            line = f"[{event.t:6.2f}s] end of utterance ({event.reason})"
        elif isinstance(event, ev.AnswerDone):
            line = f"[{event.t:6.2f}s] answer: {event.text}"
        if line:
            self._bar.write(line)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def replay(audio_path: str | Path, out_dir: str | Path, config: Config, backends: Backends, mode: str,
           show_progress: bool = True, samples=None) -> ReplayResult:
    """`samples`: the audio already loaded from `audio_path` (16 kHz mono), to avoid reading it twice."""
    if samples is None:
        samples = load_audio(audio_path, config.audio.sample_rate)
    sidecar = read_sidecar(audio_path) if config.audio.sidecar else None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict() | {"mode": mode}, sort_keys=False))

    report = _LiveReport(samples.shape[0] / config.audio.sample_rate, enabled=show_progress)
    with open(out / "events.jsonl", "w") as log:
        def on_event(event: ev.Event) -> None:
            log.write(json.dumps(event.to_json()) + "\n")
            report(event)

        pipeline = Pipeline(config, backends, make_clock(config.audio.pacing), WavSink(out / "answer.wav"),
                            mode=mode, on_event=on_event)
        try:
            events = pipeline.run(samples)
        finally:
            report.close()

    answered = [e.turn for e in events if isinstance(e, ev.AnswerDone)]
    if not answered:
        heard = [e for e in events if isinstance(e, ev.SpeechStarted)]
        raise NoSpeechError(
            f"no question found in {audio_path}: "
            + ("the VAD heard no speech" if not heard else "speech was detected but no words were recognised")
        )
    turns = []
    for turn in answered:
        true_end = sidecar.speech_end if (sidecar and turn == answered[0]) else None
        turns.append(turn_latency(events, turn, true_end))
    latency = dict(turns[0], mode=mode, turns=turns)
    (out / "latency.json").write_text(json.dumps(latency, indent=2))

    transcript = " ".join(text for _, text in sorted(final_transcripts(events).items()) if text).strip()
    answer = "\n".join(e.text for e in events if isinstance(e, ev.AnswerDone))
    notes = [f"[{e.action}] {e.text}".strip() for e in events if isinstance(e, ev.Note)]
    (out / "transcript.txt").write_text(transcript + "\n")
    (out / "answer.txt").write_text(answer + "\n")
    (out / "notes.txt").write_text("\n".join(notes) + ("\n" if notes else ""))
    return ReplayResult(out, latency, transcript, answer, notes)
