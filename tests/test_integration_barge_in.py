"""Barge-in on the real models (fast-forwarded clock: every model call takes its real time): a second
question spoken while the first is being answered stops the answer and is answered itself."""

import json
from pathlib import Path

import numpy as np
import pytest

from voice_livemind import events as ev
from voice_livemind.audio.sink import NullSink
from voice_livemind.audio.source import load_audio
from voice_livemind.clock import FastForwardClock
from voice_livemind.config import load_config
from voice_livemind.pipeline import Pipeline

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "audio_fixtures"
RATE = 16000


@pytest.fixture(scope="module")
def setup():
    from voice_livemind.pipeline import load_backends

    # This test is about interrupting the answer, with a Piper clip of four sentences as the interruption:
    # silence alone ends turns here (smart-turn calls Piper's sentence gaps finished, and a turn it ended
    # resumes when the user goes on before the answer is heard: test_turn_end_model.py, bench turns).
    config = load_config(overrides=["answer.max_new_tokens=48", "vad.end_model=none"])
    return config, load_backends(config, "direct")


def run(config, backends, audio):
    pipeline = Pipeline(config, backends, FastForwardClock(), NullSink(), mode="direct")
    return pipeline.run(audio)


def test_a_second_question_during_the_answer_barges_in(setup):
    config, backends = setup
    end = json.loads((FIXTURES / "short_question.json").read_text())["speech_end"]
    first = load_audio(FIXTURES / "short_question.wav")[: int((end + 0.05) * RATE)]  # no trailing silence
    second = load_audio(FIXTURES / "multi_sentence.wav")
    lead = json.loads((FIXTURES / "multi_sentence.json").read_text())["speech_start"]
    # Where is the answer being generated and played? Ask once without interruption.
    events = run(config, backends, np.concatenate([first, np.zeros(8 * RATE, np.float32)]))
    audio = [e for e in events if isinstance(e, ev.TTSAudio)]
    assert audio, "the first question got no spoken answer"
    playing_until = 0.0
    for chunk in audio:  # as the pipeline counts it: each chunk plays after what was queued before
        playing_until = max(chunk.t, playing_until) + chunk.samples.shape[0] / chunk.sample_rate
    results = []
    # The interrupting speech starts just after the end of the first turn was detected (it is confirmed,
    # 300 ms later, while the answer is generated), then in the middle of the answer's playback.
    ended = next(e for e in events if isinstance(e, ev.SpeechEnded)).t
    done = next(e for e in events if isinstance(e, ev.AnswerDone)).t
    # The transcript (so the answer and its length) can vary with the timing of the recognition passes.
    assert playing_until - done > 1.0, "the answer audio is too short to be interrupted reliably"
    for speech_at in (ended + 0.05, max(done + 0.1, (done + playing_until) / 2 - 0.4)):
        onset = speech_at - lead  # where the second clip starts in the combined input
        gap = np.zeros(int(max(0.0, onset - first.shape[0] / RATE) * RATE), np.float32)
        events = run(config, backends, np.concatenate([first, gap, second]))
        barge = [e for e in events if isinstance(e, ev.BargeIn)]
        assert len(barge) == 1, (speech_at, [(round(e.t, 2), e.kind, getattr(e, "audio_t", None))
                                             for e in events if not isinstance(e, (ev.AnswerDelta, ev.TranscriptUpdate))])
        results.append(barge[0])
        assert [e.turn for e in events if isinstance(e, ev.TurnDone)] == [1, 2]
        assert any(isinstance(e, ev.AnswerDone) and e.turn == 2 and e.text for e in events)
    print("\nreal-model barge-in:", [(round(b.t - b.detected_audio_t, 3), "generation" if b.generation_stopped
                                     else "playback") for b in results])
    assert results[1].playback_stopped and results[1].t - results[1].detected_audio_t < 0.2
    assert all(b.t - b.detected_audio_t < 1.0 for b in results)
