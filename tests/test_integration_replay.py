"""The real small models on CPU, end to end: audio file in, spoken answer and latency report out."""

import json
from pathlib import Path

import jiwer
import numpy as np
import pytest
import soundfile

from voice_livemind.config import load_config

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "audio_fixtures"
LATENCY_KEYS = {"eou_detected_s", "first_token_s", "first_audio_s", "answer_done_s", "speech_end_source"}


def normalised_wer(reference: str, hypothesis: str) -> float:
    clean = jiwer.Compose([jiwer.ToLowerCase(), jiwer.SubstituteRegexes({r"\s+": " "}), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                           jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])
    return jiwer.wer(reference, hypothesis, reference_transform=clean, hypothesis_transform=clean)


@pytest.fixture(scope="module")
def config():
    # A short answer cap keeps the test quick; the caps are the same in both modes.
    return load_config(overrides=["answer.max_new_tokens=48"])


@pytest.fixture(scope="module")
def backends(config):
    from voice_livemind.pipeline import load_backends

    return load_backends(config, "livemind")


@pytest.mark.parametrize("mode", ["livemind", "baseline"])
def test_replay_speaks_an_answer(tmp_path, config, backends, mode):
    from voice_livemind.replay import replay

    result = replay(FIXTURES / "short_question.wav", tmp_path, config, backends, mode, show_progress=False)
    assert result.answer.strip()
    audio, rate = soundfile.read(tmp_path / "answer.wav")
    assert rate == 22050 and audio.shape[0] > rate * 0.5  # at least half a second of speech
    assert np.sqrt(np.mean(audio**2)) > 0.01  # not silent
    latency = json.loads((tmp_path / "latency.json").read_text())
    assert LATENCY_KEYS <= set(latency) and latency["speech_end_source"] == "sidecar"
    # The milestones come in order after the end of speech.
    assert 0 < latency["eou_detected_s"] <= latency["first_token_s"] <= latency["first_audio_s"]
    assert latency["first_token_s"] <= latency["answer_done_s"]
    for name in ("events.jsonl", "transcript.txt", "answer.txt", "notes.txt", "config.yaml"):
        assert (tmp_path / name).exists(), name
    kinds = [json.loads(line)["event"] for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert kinds[0] == "SpeechStarted" and kinds[-1] == "TurnDone"


# Streaming tiny.en WER on the fixtures, measured 2026-11-25 on CPU: short_question 0.0, multi_sentence
# 0.029 ("ten" -> "10"), real_example1 0.0, real_example6 0.0, long_question 0.078 ("fifteen dollars" ->
# "$15", "parallel" -> "hair well"). The bounds leave room for one more small error per clip, no more.
@pytest.mark.parametrize("name,max_wer", [("short_question", 0.1), ("multi_sentence", 0.1), ("real_example1", 0.1),
                                          ("real_example6", 0.1), ("long_question", 0.12)])
def test_streaming_transcript_matches_the_sidecar(tmp_path, config, backends, name, max_wer):
    from voice_livemind.replay import replay

    result = replay(FIXTURES / f"{name}.wav", tmp_path, config, backends, "baseline", show_progress=False)
    reference = json.loads((FIXTURES / f"{name}.json").read_text())["text"]
    assert normalised_wer(reference, result.transcript) <= max_wer, result.transcript


def test_nan_samples_inside_a_spoken_question_are_silenced_reported_and_the_question_answered(tmp_path, config,
                                                                                             backends):
    # Before: 100 NaN samples made every Whisper pass blank and the turn was lost ("no speech in the audio").
    from voice_livemind.audio.source import load_audio
    from voice_livemind.replay import replay

    sidecar = json.loads((FIXTURES / "short_question.json").read_text())
    samples = load_audio(FIXTURES / "short_question.wav")
    middle = int((sidecar["speech_start"] + sidecar["speech_end"]) / 2 * 16000)
    samples[middle : middle + 100] = np.nan
    result = replay(FIXTURES / "short_question.wav", tmp_path, config, backends, "direct", show_progress=False,
                    samples=samples)
    assert normalised_wer(sidecar["text"], result.transcript) <= 0.1, result.transcript
    assert result.answer.strip()
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    reports = [e for e in events if e["event"] == "NonFiniteSamples"]
    assert [(r["samples"], round(r["audio_t"] * 16000)) for r in reports] == [(100, middle)]
