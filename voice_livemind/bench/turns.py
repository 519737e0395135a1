"""`voice-livemind bench turns`: the end-of-turn decision, offline, as a trade-off curve (eot-bench style).

The pipeline's own turn-taking code (TurnTaking over the Endpointer, webrtcvad, Silero VAD, smart-turn v3.2)
runs frame by frame over recordings, for four families of decision rules over a grid of settings:
- silence: webrtcvad silence alone, hangover_ms from 200 to 2000 ms (the old rule at 600);
- smart_turn: the model alone, asked after min_silence_ms; a turn it never calls finished never ends;
- silero: silence alone, with Silero VAD confirming webrtcvad's speech;
- combined: Silero-confirmed speech, the model after min_silence_ms, max_silence_ms as the limit.

What is scored:
- real speech: the four real recordings (audio_fixtures/real_example*.wav, their sidecars' speech_end, with
  2 s of their own noise floor appended) give the end-decision delay after true ends (median, p90), and
  the 60 s real lecture (../shared/data/speech/lecture_en.wav) gives false cut-offs at its 18 listed pauses,
  where the speaker keeps the turn (12 inside a sentence, 6 after one). The lecture is cut mid-sentence at
  60 s: its end is not a true end and is not scored. Smart-turn is judged on these only.
- synthetic speech (Piper fixtures with sidecars, pauses.wav's 7 pauses inside sentences): reported apart,
  smart-turn says "not finished" at most synthetic ends.
- noise: audio_fixtures/noise_10s.wav (pink noise) three times over, at its level and 6 and 12 dB louder
  (webrtcvad calls the louder ones speech): turns opened, the longest one, and whether recognition hears
  any word in them (Whisper on each turn's audio: a turn without words gets no answer and ends after
  vad.no_words_s).

The model's answer is applied `--model-latency-ms` after it was asked (default: the median time of its
calls in this run), as the pipeline applies it when the job on its lane returns. Writes DIR/summary.json,
DIR/per_policy.json, DIR/table.md and DIR/tradeoff.png.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from voice_livemind.bench.common import FIXTURES
from voice_livemind.bench.report import markdown_table, percentile, pyplot, write_json
from voice_livemind.cli_options import add_config_options, config_from_args

SHARED_SPEECH = Path(__file__).resolve().parents[3] / "shared" / "data" / "speech"
RATE = 16000
PAD_S = 2.0  # noise floor appended after the real recordings' true ends
IDLE_LATENCY_S = 0.05  # smart-turn's call on an idle core of this machine
SYNTHETIC = ("short_question", "multi_sentence", "long_question", "mmlu_choice", "pauses", "noisy_snr20", "noisy_snr10")


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="runs/turns", help="output folder (default: runs/turns)")
    parser.add_argument("--speech", default=str(SHARED_SPEECH),
                        help="folder with lecture_en.wav/.json (default: ../shared/data/speech)")
    parser.add_argument("--model-latency-ms", type=float, default=None,
                        help="when the model's answer counts, after it was asked (default: its median call time here)")
    parser.add_argument("--no-asr", action="store_true", help="do not run Whisper on the noise turns, nor the "
                                                              "transcript's end-of-turn probability")
    parser.add_argument("--quick", action="store_true", help="a small grid (tests)")
    add_config_options(parser, example="vad.aggressiveness=3")


# -- inputs -------------------------------------------------------------------------------------------
@dataclass
class Clip:
    name: str
    group: str  # real | synthetic | noise
    audio: np.ndarray
    true_end: float | None = None  # where the speaker yields the turn
    pauses: list[tuple[float, float]] = field(default_factory=list)  # pauses where the speaker keeps it
    pause_kinds: list[str] = field(default_factory=list)


def noise_floor(audio: np.ndarray, seconds: float, rng) -> np.ndarray:
    """`seconds` of white noise at the level of the recording's quietest 50 ms (its room tone)."""
    n = int(0.05 * RATE)
    windows = [audio[i:i + n] for i in range(0, len(audio) - n + 1, n)] or [audio]
    rms = max(min(float(np.sqrt(np.mean(w ** 2))) for w in windows), 10 ** (-70 / 20))
    return (rng.standard_normal(int(seconds * RATE)) * rms).astype(np.float32)


def load_clips(speech_dir: Path) -> tuple[list[Clip], list[str]]:
    from voice_livemind.audio.source import load_audio, read_sidecar

    rng = np.random.default_rng(20261130)
    clips, missing = [], []
    for n in (1, 2, 5, 6):
        path = FIXTURES / f"real_example{n}.wav"
        audio, side = load_audio(path), read_sidecar(path)
        speech = audio[: int(side.speech_end * RATE)]
        clips.append(Clip(path.stem, "real", np.concatenate([speech, noise_floor(audio, PAD_S, rng)]), side.speech_end))
    lecture = speech_dir / "lecture_en.wav"
    if lecture.exists():
        meta = json.loads(lecture.with_suffix(".json").read_text())
        clips.append(Clip("lecture_en", "real", load_audio(lecture), None, [tuple(p) for p in meta["pauses"]],
                          list(meta.get("pause_kinds", []))))
    else:
        missing.append(str(lecture))
    for name in SYNTHETIC:
        path = FIXTURES / f"{name}.wav"
        side = read_sidecar(path)
        clips.append(Clip(name, "synthetic", load_audio(path), side.speech_end, list(side.pauses),
                          ["inside"] * len(side.pauses)))
    noise = load_audio(FIXTURES / "noise_10s.wav")
    for gain in (0, 6, 12):
        clips.append(Clip(f"noise_10s x3 +{gain} dB", "noise",
                          np.clip(np.tile(noise, 3) * 10 ** (gain / 20), -1, 1).astype(np.float32)))
    return clips, missing


# -- policies -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Policy:
    family: str
    confirm: str = "none"
    end_model: bool = False
    hangover_ms: int = 600
    min_silence_ms: int = 200
    max_silence_ms: int = 1500
    threshold: float = 0.5
    every_ms: int = 0  # asked again every this many ms of the pause (0: once)

    @property
    def label(self) -> str:
        if not self.end_model:
            return f"{self.family} {self.hangover_ms} ms"
        limit = "" if self.family == "smart_turn" else f", max {self.max_silence_ms}"
        again = f", again every {self.every_ms} ms" if self.every_ms else ""
        return f"{self.family} ask {self.min_silence_ms} ms{again}, p>={self.threshold}{limit}"

    def applied(self, config):
        """`config` with this rule in its vad section."""
        from dataclasses import replace

        return replace(config, vad=replace(config.vad, confirm=self.confirm,
                                           end_model="smart_turn" if self.end_model else "none",
                                           hangover_ms=self.hangover_ms, min_silence_ms=self.min_silence_ms,
                                           max_silence_ms=self.max_silence_ms, end_threshold=self.threshold,
                                           end_model_every_ms=self.every_ms))


NEVER_MS = 600_000  # smart-turn alone: silence never ends the turn


def policies(default, quick: bool = False) -> list[Policy]:
    hangovers = [300, 600, 1200] if quick else [200, 300, 400, 500, 600, 800, 1000, 1200, 1500, 2000]
    asks = [200] if quick else [100, 150, 200, 300, 400]
    thresholds = [0.5] if quick else [0.3, 0.5, 0.7, 0.8, 0.9, 0.95]
    limits = [1500] if quick else [1000, 1500, 2000]
    out = [Policy("silence", hangover_ms=h) for h in hangovers]
    out += [Policy("silero", confirm="silero", hangover_ms=h) for h in hangovers]
    out += [Policy("smart_turn", end_model=True, min_silence_ms=a, max_silence_ms=NEVER_MS, threshold=t)
            for a in asks for t in thresholds]
    out += [Policy("combined", confirm="silero", end_model=True, min_silence_ms=a, max_silence_ms=m, threshold=t)
            for a in asks for t in thresholds for m in limits]
    out += [Policy("combined", confirm="silero", end_model=True, every_ms=e, threshold=t)  # asked again
            for e in ([400] if quick else [300, 400, 600]) for t in ([0.5] if quick else [0.5, 0.7, 0.9])]
    return [current_policy(default)] + out  # the config's own rule first


def current_policy(vad) -> Policy:
    family = "combined" if vad.end_model == "smart_turn" else ("silero" if vad.confirm == "silero" else "silence")
    return Policy(family, confirm=vad.confirm, end_model=vad.end_model == "smart_turn", hangover_ms=vad.hangover_ms,
                  min_silence_ms=vad.min_silence_ms, max_silence_ms=vad.max_silence_ms, threshold=vad.end_threshold,
                  every_ms=vad.end_model_every_ms if vad.end_model == "smart_turn" else 0)


# -- the decision, frame by frame ----------------------------------------------------------------------
class Replayed:
    """A frame classifier replaying decisions computed once per clip (webrtcvad, or Silero-confirmed)."""

    def __init__(self, decisions: list[bool], overhang_ms: int):
        self._decisions = iter(decisions)
        self.overhang_ms = overhang_ms

    def __call__(self, samples) -> bool:
        return next(self._decisions)


class CachedModel:
    """smart-turn, each distinct question answered once (the same pause is asked by many policies)."""

    def __init__(self, model):
        self.model = model
        self.cache: dict[tuple, float] = {}
        self.seconds: list[float] = []

    def __call__(self, key: tuple, audio: np.ndarray) -> float:
        if key not in self.cache:
            start = time.perf_counter()
            self.cache[key] = float(self.model(audio))
            self.seconds.append(time.perf_counter() - start)
        return self.cache[key]


@dataclass
class Turn:
    start: float  # where speech started (input time)
    decided: float | None = None  # input time at which the end was decided (None: open at the end of input)
    end: float | None = None  # the decision's estimate of the end of speech
    reason: str | None = None


def frame_decisions(clip: Clip, vad, confirm: str) -> list[bool]:
    from voice_livemind.audio.source import frames_of
    from voice_livemind.vad.detectors import speech_classifier
    from dataclasses import replace

    classifier = speech_classifier(replace(vad, confirm=confirm))
    return [bool(classifier(f.samples)) for f in frames_of(clip.audio, vad.frame_ms, RATE)]


def simulate(clip: Clip, policy: Policy, base_config, decisions: list[bool], overhang_ms: int,
             model: CachedModel | None, latency_s: float) -> list[Turn]:
    """The turns the pipeline's turn taking would take on this clip under this policy (no assistant
    speaking: the user's side only)."""
    from voice_livemind.audio.source import frames_of
    from voice_livemind.pipeline.turn_taking import Decision, TurnTaking
    from voice_livemind.vad.endpointer import Endpointer

    config = policy.applied(base_config)
    endpointer = Endpointer(config.vad, Replayed(decisions, overhang_ms), end_model=policy.end_model)
    taking = TurnTaking(config, endpointer)
    turns: list[Turn] = []
    pending: list[tuple[float, object, tuple, np.ndarray]] = []

    def record(decided, position: float) -> None:
        for d in decided:
            if d.decision is Decision.START_TURN:
                turns.append(Turn(d.audio_t))
            elif d.decision is Decision.END_TURN and turns:
                turns[-1].decided, turns[-1].end, turns[-1].reason = position, d.boundary.audio_t, d.boundary.reason

    for frame in frames_of(clip.audio, config.vad.frame_ms, RATE):
        decided, _ = taking.feed(frame, False, False, lambda samples: None)
        record(decided, endpointer.position)
        asked = taking.question()
        if asked is not None and model is not None:
            question, audio = asked
            pending.append((question.audio_t + latency_s, question, (round(question.audio_t, 3), audio.size), audio))
        for item in [p for p in pending if p[0] <= endpointer.position + 1e-9]:
            pending.remove(item)
            due, question, key, audio = item
            record(taking.verdict(question, model(key, audio), False), due)
    record(taking.end_of_input(False), endpointer.position)
    return turns


# -- scoring ------------------------------------------------------------------------------------------
def score_clip(clip: Clip, turns: list[Turn]) -> dict:
    ends = [t for t in turns if t.decided is not None and t.reason != "end_of_input"]
    out: dict = {"clip": clip.name, "turns": len(turns)}
    if clip.true_end is not None:
        after = [t.decided for t in ends if t.decided >= clip.true_end - 1e-6]
        out["delay_s"] = (min(after) - clip.true_end) if after else None  # None: never decided
        out["cutoffs_before_end"] = sum(1 for t in ends if t.decided < clip.true_end - 1e-6)
    if clip.pauses:
        cut = [any(start - 1e-6 <= t.decided <= stop + 0.05 for t in ends) for start, stop in clip.pauses]
        out["pauses_cut"] = cut
    if clip.group == "noise":
        spans = [((t.decided if t.decided is not None else len(clip.audio) / RATE) - t.start) for t in turns]
        out["longest_turn_s"] = max(spans, default=0.0)
        out["turn_spans"] = [(t.start, t.decided if t.decided is not None else len(clip.audio) / RATE) for t in turns]
    return out


def summarise(policy: Policy, scored: list[dict], clips: dict[str, Clip]) -> dict:
    real_delays = [s.get("delay_s") for s in scored if clips[s["clip"]].group == "real" and "delay_s" in s]
    row = {"family": policy.family, "policy": policy.label, **asdict(policy)}
    found = [d for d in real_delays if d is not None]
    row["real_ends"] = len(real_delays)
    row["real_missed"] = len(real_delays) - len(found)
    row["delay_median_s"] = percentile(found, 50)
    row["delay_p90_s"] = percentile(found, 90)
    lecture = next((s for s in scored if s["clip"] == "lecture_en"), None)
    if lecture is not None:
        kinds = clips["lecture_en"].pause_kinds
        cut = lecture["pauses_cut"]
        pauses = clips["lecture_en"].pauses
        row["pauses"] = len(cut)
        row["cutoff_rate"] = sum(cut) / len(cut)
        inside = [c for c, k in zip(cut, kinds) if k == "inside"]
        row["cutoff_rate_inside"] = sum(inside) / len(inside) if inside else None
        hesitation = [c for c, (a, b), k in zip(cut, pauses, kinds) if k == "inside" and 0.6 <= b - a <= 1.2]
        row["cutoffs_inside_0.6_1.2"] = f"{sum(hesitation)}/{len(hesitation)}"
        row["lecture_turns"] = lecture["turns"]
    row["real_cutoffs_before_end"] = sum(s.get("cutoffs_before_end", 0) for s in scored if clips[s["clip"]].group == "real")
    synth = [s for s in scored if clips[s["clip"]].group == "synthetic"]
    synth_delays = [s["delay_s"] for s in synth if s.get("delay_s") is not None]
    row["synthetic_delay_median_s"] = percentile(synth_delays, 50)
    row["synthetic_missed"] = sum(1 for s in synth if s.get("delay_s") is None)
    row["synthetic_cutoffs_before_end"] = sum(s.get("cutoffs_before_end", 0) for s in synth)
    pauses_fixture = next((s for s in synth if s["clip"] == "pauses"), None)
    if pauses_fixture is not None:
        row["synthetic_pauses_cut"] = f"{sum(pauses_fixture['pauses_cut'])}/{len(pauses_fixture['pauses_cut'])}"
    noise = [s for s in scored if clips[s["clip"]].group == "noise"]
    row["noise_turns"] = sum(s["turns"] for s in noise)
    row["noise_longest_turn_s"] = max((s["longest_turn_s"] for s in noise), default=0.0)
    return row


def noise_words(clips: list[Clip], spans_by_clip: dict[str, list], asr) -> dict:
    """Whisper on each noise turn's audio: how many turns have words (would be answered)."""
    from voice_livemind.asr.words import words_of

    result = {}
    for clip in clips:
        texts = []
        for start, stop in spans_by_clip.get(clip.name, []):
            audio = clip.audio[int(max(0.0, start - 0.3) * RATE): int(stop * RATE)]
            texts.append(" ".join(w.text for w in asr.transcribe(audio, "")).strip())
        result[clip.name] = {"turns": len(texts), "with_words": sum(1 for t in texts if words_of(t)), "texts": texts}
    return result


# -- the transcript's signal --------------------------------------------------------------------------
TEXT_THRESHOLDS = (0.3, 0.5, 0.7)


def asked_points(clips: list[Clip]) -> list[tuple[str, str, float]]:
    """Where the end question is asked, 200 ms into a silence: (clip, kind, input time). Kind "end": a true end
    (the turn should end); "inside" / "after": a lecture pause inside or after a sentence (it should not)."""
    points = []
    for clip in clips:
        if clip.group != "real":
            continue
        if clip.true_end is not None:
            points.append((clip.name, "end", clip.true_end + 0.2))
        for (start, _stop), kind in zip(clip.pauses, clip.pause_kinds):
            points.append((clip.name, kind, start + 0.2))
    return points


def text_signal(clips: list[Clip], asr, text_end, smart_turn) -> dict:
    """At every asked point of the real recordings: smart-turn's p(complete) on the audio, the language
    model's p(end of turn) on Whisper's transcript of the same audio (the last 8 s), and their mean. Per
    signal and threshold: true ends called finished, and pauses called finished (false cut-offs), as if
    asked once, 200 ms into the silence."""
    from voice_livemind.asr.words import join_words
    from voice_livemind.vad.endpointer import ends_question
    from voice_livemind.vad.smart_turn import WINDOW_S

    by_name = {c.name: c for c in clips}
    rows = []
    for name, kind, at in asked_points(clips):
        audio = by_name[name].audio[max(0, int((at - WINDOW_S) * RATE)): int(at * RATE)]
        text = join_words(asr.transcribe(audio, ""))  # "37" ".67" is one number
        p_audio, p_text = float(smart_turn(audio)), float(text_end(text))
        question = float(ends_question(text))  # vad.question_end_ms: the turn ends whatever smart-turn says
        rows.append({"clip": name, "kind": kind, "at_s": round(at, 2), "text": text, "p_audio": p_audio,
                     "p_text": p_text, "p_mean": (p_audio + p_text) / 2, "p_question": question,
                     "p_audio_or_question": max(p_audio, question)})
    table = []
    ends = [r for r in rows if r["kind"] == "end"]
    pauses = [r for r in rows if r["kind"] != "end"]
    for signal in SIGNALS:
        for threshold in TEXT_THRESHOLDS if signal not in YES_NO else (1.0,):
            table.append({"signal": signal[2:], "threshold": threshold,
                          "ends_finished": f"{sum(r[signal] >= threshold for r in ends)}/{len(ends)}",
                          "pauses_cut": f"{sum(r[signal] >= threshold for r in pauses)}/{len(pauses)}",
                          "inside_cut": f"{sum(r[signal] >= threshold for r in pauses if r['kind'] == 'inside')}/"
                                        f"{sum(r['kind'] == 'inside' for r in pauses)}"})
    medians = {signal[2:]: {"ends": percentile([r[signal] for r in ends], 50),
                            "pauses": percentile([r[signal] for r in pauses], 50)}
               for signal in SIGNALS if signal not in YES_NO}
    return {"points": rows, "table": table, "medians": medians}


SIGNALS = ("p_audio", "p_text", "p_mean", "p_question", "p_audio_or_question")
YES_NO = ("p_question",)  # 0 or 1: one row


TEXT_COLUMNS = [("signal", "signal"), ("threshold", "p >="), ("ends_finished", "true ends called finished"),
                ("pauses_cut", "lecture pauses called finished"), ("inside_cut", "of them inside sentences")]


# -- the run ------------------------------------------------------------------------------------------
def run(args) -> int:
    from voice_livemind.vad.smart_turn import SmartTurn

    config = config_from_args(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clips, missing = load_clips(Path(args.speech))
    for path in missing:
        print(f"not found, left out: {path}", file=sys.stderr)
    by_name = {c.name: c for c in clips}
    overhang = _overhang_ms(config.vad)
    print(f"frame decisions of {len(clips)} clips (webrtcvad, Silero-confirmed) ...", file=sys.stderr)
    decisions = {(c.name, confirm): frame_decisions(c, config.vad, confirm) for c in clips for confirm in ("none", "silero")}
    model = CachedModel(SmartTurn(config.vad.end_model_path, config.vad.end_model_threads, config.vad.end_model_device))
    grid = policies(config.vad, args.quick)
    base = config
    latency = (args.model_latency_ms or 0) / 1000
    if args.model_latency_ms is None:  # measure the model first: ask every question once without latency
        print("measuring smart-turn on the questions of every policy ...", file=sys.stderr)
        for policy in grid:
            if policy.end_model:
                for c in clips:
                    simulate(c, policy, base, decisions[(c.name, policy.confirm)], overhang, model, 0.0)
        latency = percentile(model.seconds, 50) or 0.0
    rows, per_policy = [], []
    for policy in grid:
        scored = []
        for c in clips:
            turns = simulate(c, policy, base, decisions[(c.name, policy.confirm)], overhang,
                             model if policy.end_model else None, latency)
            scored.append(score_clip(c, turns))
        row = summarise(policy, scored, by_name)
        if policy.end_model:  # the same decisions with the model's answer 50 ms after the question (an idle core)
            fast = [score_clip(c, simulate(c, policy, base, decisions[(c.name, policy.confirm)], overhang, model,
                                           IDLE_LATENCY_S)) for c in clips if c.group == "real"]
            idle = summarise(policy, fast, by_name)
            row["delay_median_idle_s"], row["cutoff_rate_idle"] = idle["delay_median_s"], idle.get("cutoff_rate")
        rows.append(row)
        per_policy.append({"policy": policy.label, "clips": scored})
    default_row = rows[0]
    words, text = {}, None
    if not args.no_asr:
        from voice_livemind.asr.whisper_backend import FasterWhisperBackend

        asr = FasterWhisperBackend(config.asr)
        words = _noise_words(clips, per_policy, grid, asr)
        text = _text_signal(config, clips, model.model, asr)
    summary = {
        "date": time.strftime("%Y-%m-%d"), "model_latency_s": latency, "model_calls": len(model.seconds),
        "model_call_median_s": percentile(model.seconds, 50), "model_call_p90_s": percentile(model.seconds, 90),
        "real_true_ends": sum(1 for c in clips if c.group == "real" and c.true_end is not None),
        "lecture_pauses": len(by_name["lecture_en"].pauses) if "lecture_en" in by_name else 0,
        "default": default_row, "best": best_rows(rows), "noise_words": words, "missing": missing,
        "text_signal": text,
    }
    write_json(out / "summary.json", summary)
    write_json(out / "per_policy.json", {"rows": rows, "per_policy": per_policy})
    (out / "table.md").write_text(report(rows, summary))
    plot(rows, out / "tradeoff.png")
    print(report(rows, summary))
    return 0


def _overhang_ms(vad) -> int:
    from voice_livemind.vad.endpointer import WebRtcClassifier

    return WebRtcClassifier(vad.aggressiveness, vad.frame_ms).overhang_ms


def _text_signal(config, clips, smart_turn, asr) -> dict:
    from voice_livemind.llm import load_chat_model
    from voice_livemind.vad.text_end import TextEndOfTurn

    print("the transcript's end-of-turn probability at the real ends and pauses ...", file=sys.stderr)
    model = load_chat_model(config.models.answer)
    return text_signal(clips, asr, TextEndOfTurn(model), smart_turn)


def _noise_words(clips, per_policy, grid, asr) -> dict:
    """Whisper on the noise turns of the silence rule (webrtcvad alone, 600 ms) and of the default."""
    noise = [c for c in clips if c.group == "noise"]
    out = {}
    for index in (0, next(i for i, p in enumerate(grid) if i and p.family == "silence" and p.hangover_ms == 600)):
        spans = {s["clip"]: s["turn_spans"] for s in per_policy[index]["clips"] if "turn_spans" in s}
        out[per_policy[index]["policy"]] = noise_words(noise, spans, asr)
    return out


def best_rows(rows: list[dict]) -> dict:
    """Per family: the fastest setting (median delay at real ends, none missed) whose false cut-off rate at
    the lecture's pauses is at most that of the old rule (silence, 600 ms), and the one with the fewest
    cut-offs among those whose median delay is at most 0.30 s."""
    old = next((r for r in rows if r["family"] == "silence" and r["hangover_ms"] == 600), None)
    limit = old.get("cutoff_rate") if old else None
    best = {}
    for family in ("silence", "silero", "smart_turn", "combined"):
        ok = [r for r in rows if r["family"] == family and r["real_missed"] == 0 and r["delay_median_s"] is not None]
        within = [r for r in ok if limit is None or (r.get("cutoff_rate") or 0) <= limit + 1e-9]
        fast = [r for r in ok if r["delay_median_s"] <= 0.30 + 1e-9]
        best[family] = {
            "fastest_at_old_cutoffs": min(within, key=lambda r: (r["delay_median_s"], r.get("cutoff_rate") or 0))["policy"] if within else None,
            "fewest_cutoffs_at_0.30s": min(fast, key=lambda r: (r.get("cutoff_rate") or 0, r["delay_median_s"]))["policy"] if fast else None,
        }
    return best


COLUMNS = [("policy", "decision rule"), ("delay_median_s", "delay median (s)"), ("delay_p90_s", "delay p90 (s)"),
           ("delay_median_idle_s", "delay median, model 50 ms"), ("real_missed", "ends missed"), ("cutoff_rate", "cut-offs, 18 pauses"),
           ("cutoff_rate_inside", "cut-offs inside sentences"), ("cutoffs_inside_0.6_1.2", "hesitations 0.6-1.2 s cut"),
           ("synthetic_delay_median_s", "synthetic: delay median"), ("synthetic_cutoffs_before_end", "synthetic: cut-offs"),
           ("synthetic_pauses_cut", "pauses.wav cut"), ("noise_turns", "noise: turns"),
           ("noise_longest_turn_s", "noise: longest turn (s)")]


def report(rows: list[dict], summary: dict) -> str:
    """The default, then per family its best settings and the old rule."""
    picks = []
    names = {v for b in summary["best"].values() for v in b.values() if v}
    for row in rows:
        keep = (row is rows[0] or row["policy"] in names or (row["family"] == "silence" and row["hangover_ms"] in (600, 1200))
                or (row["family"] == "combined" and row["threshold"] == 0.5 and row["max_silence_ms"] == 1500)
                or (row["family"] == "smart_turn" and row["min_silence_ms"] == 200 and row["threshold"] in (0.5, 0.9)))
        if keep and row not in picks:
            picks.append(row)
    head = (f"smart-turn: {summary['model_calls']} calls, median {_ms(summary['model_call_median_s'])} "
            f"(p90 {_ms(summary['model_call_p90_s'])}); its answer counted {_ms(summary['model_latency_s'])} after "
            f"the question. Real speech: {summary['real_true_ends']} true ends, {summary['lecture_pauses']} lecture "
            f"pauses kept by the speaker. The first row is the config's own rule.\n\n")
    text = head + markdown_table(picks, COLUMNS)
    for name, words in (summary.get("noise_words") or {}).items():
        parts = [f"{clip}: {w['turns']} turns, {w['with_words']} with words" for clip, w in words.items()]
        text += f"\nnoise, {name}: " + "; ".join(parts) + "\n"
    signal = summary.get("text_signal")
    if signal:
        medians = "; ".join(f"{name}: {m['ends']:.2f} at true ends, {m['pauses']:.2f} at pauses"
                            for name, m in signal["medians"].items())
        text += (f"\nAsked once, 200 ms into the silence (medians: {medians}); audio: smart-turn, text: the language "
                 f"model's p(end of turn) on Whisper's transcript of the same 8 s, mean: their mean, question: that "
                 f"transcript ends in '?', audio_or_question: smart-turn or a question mark (vad.question_end_ms):\n\n"
                 + markdown_table(signal["table"], TEXT_COLUMNS) + "\n")
    return text


def _ms(seconds) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.0f} ms"


def plot(rows: list[dict], path: Path) -> None:
    """Each family's settings (faint) and its frontier: the lowest median delay at each cut-off rate or fewer."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    styles = {"silence": ("o", "-", "tab:orange"), "silero": ("s", "--", "tab:red"),
              "smart_turn": ("^", ":", "tab:brown"), "combined": ("D", "-", "tab:blue")}

    def usable(r):
        return r.get("cutoff_rate") is not None and r["delay_median_s"] is not None and r["real_missed"] == 0

    for family, (marker, line, colour) in styles.items():
        points = sorted((r["cutoff_rate"] * 100, r["delay_median_s"]) for r in rows[1:] if r["family"] == family and usable(r))
        if not points:
            continue
        frontier, best = [], float("inf")
        for x, y in points:
            if y < best:
                frontier.append((x, y))
                best = y
        ax.scatter([p[0] for p in points], [p[1] for p in points], marker=marker, color=colour, alpha=0.2)
        ax.plot([p[0] for p in frontier], [p[1] for p in frontier], marker=marker, linestyle=line, color=colour,
                label=family)
    if usable(rows[0]):
        ax.scatter([rows[0]["cutoff_rate"] * 100], [rows[0]["delay_median_s"]], marker="*", s=220, color="black",
                   zorder=5, label="default config")
    ax.axhline(0.30, color="grey", lw=0.8)
    ax.set_xlabel("false cut-offs at the lecture's 18 pauses (%)")
    ax.set_ylabel("end-decision delay after real true ends, median (s)")
    ax.set_title("End of turn: delay vs false cut-offs (real speech)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
