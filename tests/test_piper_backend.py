"""Piper through our own onnxruntime session: the configured threads, no spinning, speech out."""

import numpy as np

from voice_livemind.config import TTSConfig
from voice_livemind.tts.piper_backend import PiperTTS, speakable


def test_the_session_has_the_configured_threads_and_does_not_spin():
    tts = PiperTTS(TTSConfig(threads=1))
    options = tts._voice.session.get_session_options()  # through ShrinkingSession to the onnxruntime session
    assert options.intra_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert PiperTTS(TTSConfig(threads=2))._voice.session.get_session_options().intra_op_num_threads == 2


def test_it_speaks_a_sentence_at_the_voices_rate():
    tts = PiperTTS(TTSConfig())
    audio = np.concatenate(list(tts.synthesize("Paris is the capital of France.")))
    assert tts.sample_rate == 22050 and audio.dtype == np.float32
    assert 1.0 < audio.size / tts.sample_rate < 4.0 and np.abs(audio).max() > 0.05


def test_markdown_is_not_read_out():
    assert speakable("**Paris** is `the` capital\n# of France") == "Paris is the capital of France"
    assert list(PiperTTS(TTSConfig()).synthesize("** ##")) == []


def test_memory_one_long_sentence_needed_is_given_back():
    from voice_livemind.bench.soak import resident_mb

    tts = PiperTTS(TTSConfig())
    clause = "the quick brown fox jumps over the lazy dog"
    list(tts.synthesize(clause + "."))
    before = resident_mb()
    list(tts.synthesize(", and ".join([clause] * 8) + "."))  # the arena alone would keep ~400 MiB more
    list(tts.synthesize(clause + "."))
    assert resident_mb() - before < 150
