"""`voice-livemind bench asr [FOLDER] [--out DIR]`: streaming recognition and end of utterance on audio files.

Every audio file in FOLDER (default: audio_fixtures/) with a transcript beside it (`NAME.json` with `text`
and, when known, `speech_start`/`speech_end`/`pauses`; or a plain `NAME.txt`) goes through the pipeline's
own VAD and streaming ASR (Pipeline in `transcribe` mode: the same Endpointer, WebRtcClassifier,
StreamingASR, FasterWhisperBackend and config) on a FastForwardClock, so every recognition pass costs its
real compute time while the audio "arrives" in between. The same model then transcribes each file offline
in one call. Lags are measured twice: with compute time (clock time of the commit) and without it (the
audio the committing pass had heard: what the policy alone costs). Everything is read from the pipeline's
events (TranscriptUpdate.words / heard_until, SpeechEnded.detected_audio_t), nothing from its insides.
`--mode livemind` runs the whole pipeline and also reports the notes written while listening and how many
of the segments closed before the end of speech they covered.

Writes DIR/summary.json, DIR/per_file.json, DIR/table.md and DIR/commit_lag_long.png.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from voice_livemind.audio.source import AudioError, read_sidecar  # light: no model imports
from voice_livemind.bench import asr_metrics as m
from voice_livemind.bench.common import AUDIO_SUFFIXES, fixtures_folder
from voice_livemind.bench.asr_report import plot_lag, summarise, table
from voice_livemind.bench.report import rounded
from voice_livemind.cli_options import add_config_options, config_from_args

EXIT_OK, EXIT_AUDIO = 0, 3


class SkipFile(Exception):
    """This file cannot be benchmarked; the message says why."""


def add_arguments(parser) -> None:
    parser.add_argument("folder", nargs="?", default=None,
                        help="audio files with NAME.json ({'text', 'speech_start', 'speech_end', 'pauses'}) or "
                             "NAME.txt transcripts (default: audio_fixtures/ in the current directory)")
    parser.add_argument("--out", default="runs/asr", help="output folder (default: runs/asr)")
    add_config_options(parser)
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="only files whose name contains TEXT (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--mode", choices=["transcribe", "livemind"], default="transcribe",
                        help="transcribe: recognition alone (default) | livemind: the whole pipeline, notes and "
                             "answers sharing the lane, to see whether recognition keeps up while notes are written")


# -- inputs -------------------------------------------------------------------------------------------


def read_reference(audio_path: Path) -> m.Reference:
    """The transcript (and true speech bounds, pauses) beside an audio file; SkipFile when unusable."""
    try:
        sidecar = read_sidecar(audio_path)
    except AudioError as err:
        raise SkipFile(str(err)) from err
    if sidecar is None:
        raise SkipFile(f'no transcript: put {audio_path.stem}.json (with "text") or {audio_path.stem}.txt beside it')
    if sidecar.text is None:
        raise SkipFile(f'{audio_path.stem}.json has no "text" string')
    return m.Reference(sidecar.text, sidecar.speech_start, sidecar.speech_end, sidecar.pauses)


def find_inputs(folder: Path, only: list[str] = ()) -> tuple[list[tuple[Path, m.Reference]], list[dict]]:
    """The benchmarkable files of a folder, and the skipped ones with the reason."""
    if not folder.is_dir():
        raise AudioError(f"{folder} is not a folder of audio files")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if only:
        paths = [p for p in paths if any(o in p.name for o in only)]
    if not paths:
        raise AudioError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in {folder}"
                         + (f" matching {only}" if only else ""))
    found, skipped = [], []
    for path in paths:
        try:
            _check_readable(path)
            found.append((path, read_reference(path)))
        except SkipFile as err:
            skipped.append({"file": path.name, "reason": str(err)})
    return found, skipped


def _check_readable(path: Path) -> None:
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception as err:  # libsndfile says why in its own words
        raise SkipFile(f"cannot read audio ({type(err).__name__}: {str(err).strip()[:160]})") from err
    if info.frames == 0:
        raise SkipFile("the file holds no samples")


# -- one file -----------------------------------------------------------------------------------------


def stream(samples, config, asr_backend, clock, mode="transcribe", models=None):
    """Run the pipeline's VAD + streaming ASR over the samples; returns (updates, ends, events), the first
    two read from the events alone. `models`: (inference model, answer model, tts) for the livemind mode."""
    from voice_livemind import events as ev
    from voice_livemind.audio.sink import NullSink
    from voice_livemind.bench.common import fresh_backends
    from voice_livemind.pipeline import Pipeline

    updates: list[m.Update] = []
    ends: list[m.End] = []

    def on_event(event) -> None:
        if isinstance(event, ev.TranscriptUpdate):
            updates.append(m.Update(event.turn, event.t, event.heard_until, tuple(event.words), event.unstable,
                                    event.compute_s, event.final))
        elif isinstance(event, ev.SpeechEnded):
            ends.append(m.End(event.turn, event.t, event.detected_audio_t, event.audio_t, event.reason))

    events = Pipeline(config, fresh_backends(config, asr_backend, *(models or ())), clock, NullSink(), mode=mode,
                      on_event=on_event).run(samples)
    check_events(events)
    return updates, ends, events


def check_events(events) -> None:
    """The measures need what the events carry (committed words with times, the audio each pass heard, how
    far the VAD had heard at each end decision): a pipeline that leaves them empty would give silently
    wrong lags, so it is an error."""
    from voice_livemind import events as ev

    for event in events:
        if isinstance(event, ev.TranscriptUpdate) and event.stable.strip() and not event.words:
            raise RuntimeError(f"TranscriptUpdate at {event.t:.2f} s has committed text but no words: the "
                               "pipeline must fill TranscriptUpdate.words")
        if isinstance(event, ev.TranscriptUpdate) and event.words and event.heard_until <= 0:
            raise RuntimeError(f"TranscriptUpdate at {event.t:.2f} s has words but no heard_until: the "
                               "pipeline must fill TranscriptUpdate.heard_until")
        if isinstance(event, ev.SpeechEnded) and event.detected_audio_t < event.audio_t - 1e-6:
            raise RuntimeError(f"SpeechEnded at {event.t:.2f} s was decided at {event.detected_audio_t:.2f} s of "
                               f"audio, before the speech end it names ({event.audio_t:.2f} s): the pipeline "
                               "must fill SpeechEnded.detected_audio_t")


def bench_file(path: Path, reference: m.Reference, config, asr_backend, mode="transcribe", models=None) -> dict:
    from voice_livemind.asr.words import join_words
    from voice_livemind.clock import FastForwardClock, RealClock

    samples = _load(path, config)
    duration = samples.shape[0] / config.audio.sample_rate
    updates, ends, events = stream(samples, config, asr_backend, FastForwardClock(), mode, models)
    clock = RealClock()
    offline_words = asr_backend.transcribe(samples, "")
    offline_compute = clock.now()

    streaming = m.final_text(updates)
    offline = join_words(offline_words)
    lags = m.commit_lags(updates)
    changed, unstable_total = m.unstable_changes(updates)
    eou = m.end_of_utterance(ends, reference)
    empty = not m.wer_normalise(reference.text)
    return {
        "file": path.name,
        "duration_s": round(duration, 3),
        "reference": reference.text,
        "streaming": streaming,
        "offline": offline,
        "streaming_wer": None if empty else m.corpus_wer([(reference.text, streaming)]),
        "offline_wer": None if empty else m.corpus_wer([(reference.text, offline)]),
        "reference_words": m.word_count(m.wer_normalise(reference.text)),
        "words_on_silence": m.word_count(streaming) if empty else None,
        "offline_words_on_silence": m.word_count(offline) if empty else None,
        "turns": len({u.turn for u in updates}),
        "passes": sum(1 for u in updates if not u.final),
        "compute_s": round(sum(u.compute_s for u in updates), 3),
        "offline_compute_s": round(offline_compute, 3),
        "commit_lag_median_s": rounded(m.median([s.lag_s for s in lags])),
        "commit_lag_p90_s": rounded(m.percentile([s.lag_s for s in lags], 90)),
        "commit_lag_audio_median_s": rounded(m.median([s.lag_audio_s for s in lags])),
        "committed_revisions": m.committed_revisions(updates),
        "unstable_words": unstable_total,
        "unstable_changed": changed,
        "speech_end": reference.speech_end,
        "eou_delay_s": rounded(eou.delay_s),
        "eou_delay_audio_s": rounded(eou.delay_audio_s),
        "eou_reason": eou.reason,
        "false_cutoffs": eou.false_cutoffs,
        "pauses": [list(p) for p in reference.pauses],
        "ends": [asdict(e) for e in ends],
        "lags": [[round(s.word_end, 3), round(s.lag_s, 3), round(s.lag_audio_s, 3), s.text] for s in lags],
        **(m.note_coverage(events, reference.speech_end) if mode == "livemind" else {}),
    }


def _load(path: Path, config):
    from voice_livemind.audio.source import load_audio

    try:
        return load_audio(path, config.audio.sample_rate)
    except AudioError as err:
        raise SkipFile(str(err)) from err
    except Exception as err:  # a decoder failing in its own way is still only this file's problem
        raise SkipFile(f"cannot read {path.name}: {type(err).__name__}: {err}") from err


def run(args) -> int:
    from tqdm import tqdm

    from voice_livemind.asr.whisper_backend import FasterWhisperBackend

    config = config_from_args(args)
    args.folder = str(fixtures_folder(args.folder, "bench asr"))
    inputs, skipped = find_inputs(Path(args.folder), args.only)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"loading {config.asr.model} ({config.asr.device}, {config.asr.compute_type}) ...", file=sys.stderr)
    backend = FasterWhisperBackend(config.asr)  # it pays its one-off set-up costs as it loads
    models = None
    if args.mode == "livemind":
        from voice_livemind.bench.common import load_models
        from voice_livemind.pipeline.backends import in_role
        from voice_livemind.tts.piper_backend import PiperTTS

        notes, answers = load_models(config, small=True)
        models = (in_role(notes, config.models.inference), in_role(answers, config.models.answer),
                  PiperTTS(config.tts))  # notes, answers, speech; each role with its threads

    records = []
    bar = tqdm(inputs, unit="file", file=sys.stderr, disable=args.quiet)
    for path, reference in bar:
        bar.set_postfix_str(path.name)
        try:
            record = bench_file(path, reference, config, backend, args.mode, models)
        except SkipFile as err:
            skipped.append({"file": path.name, "reason": str(err)})
            continue
        records.append(record)
        bar.write(f"{path.name}: {record['streaming']!r}")
    bar.close()
    for s in skipped:
        print(f"skipped {s['file']}: {s['reason']}", file=sys.stderr)
    if not records:
        print(f"audio error: no file in {args.folder} could be benchmarked", file=sys.stderr)
        return EXIT_AUDIO

    summary = summarise(records, skipped, config)
    summary["mode"] = args.mode
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "per_file.json").write_text(json.dumps(records, indent=1) + "\n")
    text = table(summary, records)
    (out / "table.md").write_text(text)
    long = next((r for r in records if r["file"] == summary["long_file"]), None)
    if long and long["lags"]:
        plot_lag(long, out / "commit_lag_long.png", config.vad.hangover_ms / 1000)
    print(text)
    print(f"wrote {out}/summary.json, per_file.json, table.md" + (", commit_lag_long.png" if long else ""))
    return EXIT_OK
