"""The real small models behind the WebSocket server: a client streams a spoken question in real time and
gets the transcript, an answer and its audio."""

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from voice_livemind.audio.source import load_audio
from voice_livemind.config import load_config
from voice_livemind.server import VoiceServer
from voice_livemind.stream_client import stream

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "audio_fixtures"


def test_a_client_hears_a_spoken_answer_from_the_real_models(tmp_path):
    from voice_livemind.pipeline import load_backends

    config = load_config(overrides=["answer.max_new_tokens=48"])
    backends = load_backends(config, "livemind")
    question = load_audio(FIXTURES / "short_question.wav")
    expected = json.loads((FIXTURES / "short_question.json").read_text())["text"]

    async def main():
        server = VoiceServer(config, backends, host="127.0.0.1", port=0)
        await server.start()
        try:
            return await stream(f"ws://127.0.0.1:{server.port}/ws", question, speed=1.0)
        finally:
            await server.stop()

    result = asyncio.run(asyncio.wait_for(main(), timeout=120))
    result.write(tmp_path / "client")
    assert result.close_code == 1000, result.of("Error")
    final = [e["stable"] for e in result.of("TranscriptUpdate") if e["final"]]
    assert final and set(expected.lower().split()[:2]) <= set(final[0].lower().replace(",", "").split())
    assert result.answers and result.answers[0].strip()
    rate, audio = result.answer_audio()
    assert rate == 22050 and audio.shape[0] > rate // 2 and np.abs(audio).max() > 0.05
    latency = result.of("Latency")[0]
    assert 0 < latency["first_audio_s"] < 10  # real time on two CPU cores, measured from the VAD's end
