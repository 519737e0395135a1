"""serve with engine openai whose engine is unreachable: each session gets a clear error event within the
retries' back-off, and the server stays up for the next one."""

import asyncio
import socket
import time

from tests.fakes import FakeTTS, ScriptedASR, energy_vad
from tests.test_server import QUESTION, SCRIPT, SPEED
from voice_livemind.clock import RealClock
from voice_livemind.config import LLMConfig, load_config
from voice_livemind.pipeline import Backends
from voice_livemind.server import VoiceServer
from voice_livemind.stream_client import stream


def test_an_unreachable_engine_is_an_error_event_and_the_server_goes_on():
    from voice_livemind.llm.openai_backend import OpenAIChatModel

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: connections are refused
    engine = OpenAIChatModel(LLMConfig(engine="openai", model="served", base_url=f"http://127.0.0.1:{port}/v1",
                                       retries=1, timeout_s=5))
    clock = RealClock()
    backends = Backends(is_speech=energy_vad, asr=ScriptedASR(clock, SCRIPT, cost_s=0.02), inference_model=engine,
                        answer_model=engine, tts=FakeTTS(clock, cost_s=0.01))
    config = load_config(overrides=["mode=direct"])

    async def main():
        server = VoiceServer(config, backends, host="127.0.0.1", port=0, max_sessions=2,
                             make_is_speech=lambda: energy_vad)
        await server.start()
        try:
            url = f"ws://127.0.0.1:{server.port}/ws"
            results = []
            for _ in range(2):
                start = time.monotonic()
                results.append((await stream(url, QUESTION, speed=SPEED), time.monotonic() - start))
        finally:
            await server.stop()
        return results, list(server.finished)

    results, finished = asyncio.run(asyncio.wait_for(main(), timeout=60))
    for result, elapsed in results:
        errors = result.of("Error")
        assert errors and f"cannot connect to http://127.0.0.1:{port}/v1" in errors[0]["message"], result.events
        assert result.answers == [] and elapsed < 10
    assert [s.end for s in finished] == ["error", "error"]
