"""The pipeline's recognition schedule on a virtual clock: transcribe-only mode, no pass in a pause that
would delay the end of the turn, the transcript hold."""

import numpy as np
import pytest

from tests.fakes import ListSink, ScriptedASR, energy_vad, silence, tone
from voice_livemind import events as ev
from voice_livemind.clock import VirtualClock
from voice_livemind.config import load_config
from voice_livemind.pipeline import Backends, Pipeline

SCRIPT = [(0.3, 0.6, " I"), (0.6, 0.9, " need"), (0.9, 1.2, " a"), (1.2, 1.6, " flight"), (1.6, 1.9, " to"),
          (1.9, 2.4, " Boston.")]


def transcribe(audio, cost_s, *overrides):
    # The timelines below are worked out for a pass 100 ms into a pause (the default waits 200 ms).
    config = load_config(overrides=["asr.pause_pass_ms=100", *overrides])
    clock = VirtualClock()
    asr = ScriptedASR(clock, SCRIPT, cost_s=cost_s)
    backends = Backends(is_speech=energy_vad, asr=asr, inference_model=None, answer_model=None, tts=None)
    pipeline = Pipeline(config, backends, clock, ListSink(), mode="transcribe")
    return pipeline.run(audio), asr


def of(events, cls):
    return [e for e in events if isinstance(e, cls)]


def test_transcribe_mode_recognises_without_answering():
    audio = np.concatenate([silence(0.51), tone(3.0), silence(1.5)])
    events, _ = transcribe(audio, 0.3)
    assert [e.kind for e in events][0] == "SpeechStarted" and events[-1].kind == "TurnDone"
    final = [e for e in of(events, ev.TranscriptUpdate) if e.final]
    assert [e.stable for e in final] == ["I need a flight to Boston."]
    assert not of(events, ev.AnswerStarted)


@pytest.mark.parametrize("cost_s", [0.3, 0.5, 0.8])
def test_a_pass_in_the_pause_makes_the_final_pass_unnecessary(cost_s):
    # speech 0.51-3.51 s; hangover 600 ms; energy VAD: no overhang. Once the pause is 100 ms long (or when
    # the recognition lane is free), a pass hears all the speech: the final pass is skipped.
    audio = np.concatenate([silence(0.51), tone(3.0), silence(1.5)])
    events, asr = transcribe(audio, cost_s)
    final = [e for e in of(events, ev.TranscriptUpdate) if e.final]
    assert final[0].stable == "I need a flight to Boston."
    ended = of(events, ev.SpeechEnded)[0]
    # The VAD decides beside the recognition lane: when the hangover runs out, whatever runs then.
    assert ended.t == pytest.approx(3.51 + 0.6)
    in_pause = [s for s in asr.starts if 3.51 < s < ended.t]
    if cost_s == 0.8:  # the pass running at the end of speech had not heard its last frames: a final pass
        assert in_pause == [] and asr.starts[-1] > ended.t
        assert final[0].t == pytest.approx(asr.starts[-1] + 0.8)
    else:  # one pass in the pause heard everything: the final transcript is ready when it ends
        assert len(in_pause) == 1 and asr.starts[-1] == in_pause[0]
        assert in_pause[0] == pytest.approx(max(3.51 + 0.12, asr.starts[-2] + cost_s), abs=0.031)
        assert final[0].t == pytest.approx(max(ended.t, in_pause[0] + cost_s))


def test_the_final_pass_runs_when_speech_was_not_heard():
    # the audio ends during speech: the last frames were never recognised
    audio = np.concatenate([silence(0.51), tone(2.0)])
    events, asr = transcribe(audio, 0.3)
    final = [e for e in of(events, ev.TranscriptUpdate) if e.final]
    ended = of(events, ev.SpeechEnded)[0]
    assert asr.starts[-1] >= ended.t and final[0].t == pytest.approx(asr.starts[-1] + 0.3)


def test_passes_continue_through_a_pause_only_once():
    # a 0.5 s pause inside the speech: at most one pass in it, and the turn goes on
    audio = np.concatenate([silence(0.51), tone(1.5), silence(0.51), tone(1.5), silence(1.5)])
    events, _ = transcribe(audio, 0.2)
    assert len(of(events, ev.SpeechEnded)) == 1
    starts = [e.t - e.compute_s for e in of(events, ev.TranscriptUpdate) if not e.final]
    assert sum(1 for t in starts if 2.01 < t < 2.52) == 1


def test_transcript_hold_keeps_the_turn_through_a_long_pause():
    # a 750 ms pause: hangover 600 ms ends the turn, a 300 ms hold keeps it. The pass in the pause hears
    # the buffer up to ~2.3 s (it starts at the 0.21 s pre-roll): "I need a flight to", unfinished.
    speech = np.concatenate([silence(0.51), tone(1.8), silence(0.75), tone(1.0), silence(1.5)])
    cut, _ = transcribe(speech, 0.2)
    held, _ = transcribe(speech, 0.2, "vad.transcript_hold_ms=300")
    assert len(of(cut, ev.SpeechEnded)) == 2
    assert len(of(held, ev.SpeechEnded)) == 1


@pytest.mark.parametrize("ends_in_speech", [False, True])
def test_passes_while_speaking_read_the_short_window_and_passes_that_may_be_final_the_pause_window(ends_in_speech):
    # speech 0.51-3.51 s. Passes while the tone plays: asr.encoder_window_s; the pass in the pause (or the
    # final pass after an input that stops mid-speech), whose hypothesis becomes the final transcript as it
    # is: asr.pause_window_s.
    audio = np.concatenate([silence(0.51), tone(3.0)] + ([] if ends_in_speech else [silence(1.5)]))
    events, asr = transcribe(audio, 0.3, "asr.encoder_window_s=16", "asr.pause_window_s=24")
    ended = of(events, ev.SpeechEnded)[0]
    speaking = [w for s, w in zip(asr.starts, asr.windows) if s < 3.51]
    last = [w for s, w in zip(asr.starts, asr.windows) if s >= 3.51]
    assert len(speaking) >= 3 and set(speaking) == {16}
    assert last == [24] and (asr.starts[-1] >= ended.t) == ends_in_speech
