"""The WebSocket server with fake models, over loopback: one client, several at once, the session limit,
bad input, a client that goes away, a client too slow to read, barge-in, graceful shutdown, and the HTTP
side."""

import asyncio
import json
import os
import signal
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from tests.fakes import FakeTTS, ScriptedASR, ScriptedChatModel, energy_vad, silence, tone
from voice_livemind.clock import RealClock
from voice_livemind.config import load_config
from voice_livemind.pipeline import Backends
from voice_livemind.server import VoiceServer, run_until_signalled
from voice_livemind.stream_client import stream

SCRIPT = [(0.3, 0.6, " What"), (0.6, 0.8, " is"), (0.8, 1.0, " two"), (1.0, 1.4, " plus"), (1.4, 1.6, " two?")]
QUESTION = np.concatenate([silence(0.3), tone(1.5), silence(1.0)])
SPEED = 4.0  # stream 4x faster than real time: the tests stay quick
# Two sentences: the first is synthesised while the answer is still being generated (model calls nest).
ANSWER = "Two and two. It is four."


class Overlap:
    """Counts model calls running at once across sessions (the server allows one)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def wrap(self, fn):
        def call(*args, **kwargs):
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
            try:
                return fn(*args, **kwargs)
            finally:
                with self.lock:
                    self.running -= 1
        return call


def fake_backends(overlaps: tuple[Overlap, Overlap] | None = None, token_s: float = 0.005, replies=(ANSWER,),
                  tts_seconds_per_char: float = 0.05):
    clock = RealClock()
    asr = ScriptedASR(clock, SCRIPT, cost_s=0.02)
    answer = ScriptedChatModel(clock, list(replies), prefill_s=0.02, per_token_s=token_s)
    if overlaps is not None:  # one counter per model: the server locks each model on its own
        asr.transcribe = overlaps[0].wrap(asr.transcribe)
        answer.generate = overlaps[1].wrap(answer.generate)
    return Backends(is_speech=energy_vad, asr=asr, inference_model=answer, answer_model=answer,
                    tts=FakeTTS(clock, cost_s=0.01, seconds_per_char=tts_seconds_per_char))


def run_with_server(body, max_sessions=2, overlaps=None, overrides=(), **kwargs):
    """Start a server on a free loopback port, run `body(server, url)`, stop the server."""
    config = load_config(overrides=["mode=direct", *overrides])

    async def main():
        server = VoiceServer(config, fake_backends(overlaps, **kwargs), host="127.0.0.1", port=0,
                             max_sessions=max_sessions, make_is_speech=lambda: energy_vad)
        await server.start()
        try:
            return await body(server, f"ws://127.0.0.1:{server.port}/ws")
        finally:
            await server.stop()
            assert server.sessions == {}
            assert not any(t.name.startswith("session-") for t in threading.enumerate())

    return asyncio.run(asyncio.wait_for(main(), timeout=60))


def test_one_client_gets_transcript_answer_audio_and_latency(tmp_path):
    async def body(server, url):
        return await stream(url, QUESTION, speed=SPEED)

    result = run_with_server(body)
    kinds = [e["event"] for e in result.events]
    assert kinds[0] == "Ready" and kinds[-1] == "SessionEnd"
    assert [e["stable"] for e in result.of("TranscriptUpdate") if e["final"]] == ["What is two plus two?"]
    assert result.answers == [ANSWER]
    assert kinds.index("SpeechStarted") < kinds.index("SpeechEnded") < kinds.index("AnswerDone") < kinds.index("Latency")
    latency = result.of("Latency")[0]
    assert latency["turn"] == 1 and latency["first_audio_s"] is not None
    rate, audio = result.answer_audio()
    assert rate == 22050 and audio.shape[0] == sum(int(0.05 * len(s) * 22050) for s in ("Two and two.", "It is four."))
    assert result.close_code == 1000
    assert all(a["recv_t"] <= b["recv_t"] for a, b in zip(result.events, result.events[1:]))
    out = result.write(tmp_path / "client")
    lines = (out / "events.jsonl").read_text().splitlines()
    assert len(lines) == len(result.events) and "recv_t" in json.loads(lines[0])
    assert (out / "answer.wav").stat().st_size > 44


def test_several_clients_at_once_share_the_models_one_call_at_a_time():
    asr, llm = Overlap(), Overlap()

    async def body(server, url):
        results = await asyncio.gather(*(stream(url, QUESTION, speed=SPEED) for _ in range(3)))
        return results, list(server.finished)

    results, finished = run_with_server(body, max_sessions=3, overlaps=(asr, llm))
    assert [r.answers for r in results] == [[ANSWER]] * 3
    assert all(r.close_code == 1000 for r in results)
    assert asr.most == 1 and llm.most == 1  # a lock per model: never two calls of one model at once
    assert sorted(s.end for s in finished) == ["done"] * 3


def test_beyond_the_session_limit_a_client_is_refused_cleanly():
    async def body(server, url):
        first = asyncio.create_task(stream(url, QUESTION, speed=1.0))
        while not server.sessions:
            await asyncio.sleep(0.01)
        refused = await stream(url, QUESTION, speed=SPEED)
        return await first, refused, server.refused

    first, refused, count = run_with_server(body, max_sessions=1)
    assert refused.close_code == 1013 and "busy" in refused.close_reason
    assert refused.of("Error")[0]["code"] == "busy" and refused.answers == []
    assert count == 1
    assert first.answers == [ANSWER]  # the session in use was not disturbed


def test_a_wrong_sample_rate_is_an_error_event_not_a_crash():
    async def body(server, url):
        bad = await stream(url, QUESTION, speed=SPEED, start={"type": "start", "sample_rate": 44100})
        good = await stream(url, QUESTION, speed=SPEED)
        return bad, good

    bad, good = run_with_server(body)
    assert bad.close_code == 1003
    assert bad.of("Error")[0]["code"] == "bad_format" and "44100" in bad.of("Error")[0]["message"]
    assert good.answers == [ANSWER]


def test_bad_frames_and_messages_are_reported_and_the_session_goes_on():
    async def body(server, url):
        from websockets.asyncio.client import connect

        async with connect(url, proxy=None) as ws:
            await ws.send(b"\x00\x01\x02")  # 3 bytes: not whole 16-bit samples
            await ws.send("not json")
            await ws.send(json.dumps({"type": "dance"}))
            await ws.send(((QUESTION * 32767).astype("<i2")).tobytes())
            await ws.send(json.dumps({"type": "end"}))
            messages = [json.loads(m) async for m in ws if isinstance(m, str)]
            return messages, ws.close_code

    messages, code = run_with_server(body)
    errors = [m["code"] for m in messages if m["event"] == "Error"]
    assert errors == ["bad_audio", "bad_message", "bad_message"]
    assert [m["text"] for m in messages if m["event"] == "AnswerDone"] == [ANSWER]
    assert code == 1000


def test_a_client_that_goes_away_mid_turn_is_cleaned_up():
    async def body(server, url):
        gone = await stream(url, QUESTION, speed=SPEED, stop_after_s=1.2)  # hangs up while speaking
        while server.sessions:
            await asyncio.sleep(0.01)
        after = await stream(url, QUESTION, speed=SPEED)
        return gone, list(server.finished), after

    gone, finished, after = run_with_server(body, max_sessions=1)
    assert gone.answers == [] and any(e["event"] == "SpeechStarted" for e in gone.events)
    assert finished[0].end == "client closed"
    assert after.answers == [ANSWER]  # the slot was freed


async def until(condition, timeout: float = 10.0) -> None:
    """Wait until `condition()` holds; fail after `timeout` seconds."""
    async def poll():
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


def pcm(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def test_a_client_that_does_not_read_is_closed_with_1008_and_its_slot_freed(monkeypatch):
    monkeypatch.setattr("voice_livemind.server.MAX_OUTBOX_BYTES", 2**20)
    # 20 sentences of ~0.9 MB of audio each: far more than the socket buffers take (a few MB on loopback).
    long_answer = " ".join(["Two and two is four."] * 20)

    async def body(server, url):
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosedError

        # No compression (the fake audio would shrink to nothing), and the client library takes one message
        # at most before it stops reading the socket: what the server sends piles up in its outbox.
        async with connect(url, proxy=None, compression=None, max_queue=1, max_size=2**24) as slow:
            for chunk in np.array_split(QUESTION, 28):  # 0.1 s pieces, read back: nothing
                await slow.send(pcm(chunk))
            await until(lambda: server.finished)
            synthesised = len(server.backends.tts.spoken)
            after = await stream(url, QUESTION, speed=SPEED)  # max_sessions=1: the slot was freed
            received = []
            try:  # the slow client reads at last: what was in flight, then the close frame
                async for message in slow:
                    if isinstance(message, str):
                        received.append(json.loads(message)["event"])
            except ConnectionClosedError:
                pass
            return list(server.finished), synthesised, after, slow.close_code, slow.close_reason, received

    finished, synthesised, after, code, reason, received = run_with_server(
        body, max_sessions=1, overrides=["answer.max_sentences=0"], replies=[long_answer, ANSWER],
        tts_seconds_per_char=1.0)
    assert finished[0].end == "too slow"
    assert code == 1008 and reason == "client too slow to read"
    assert synthesised < 20  # the lane was stopped, not left to synthesise for nobody
    assert received[0] == "Ready" and "TTSAudio" in received and "SessionEnd" not in received
    assert after.answers == [ANSWER] and after.close_code == 1000


def test_a_client_that_ends_then_does_not_read_the_rest_is_closed_with_1008(monkeypatch):
    monkeypatch.setattr("voice_livemind.server.DRAIN_TIMEOUT_S", 0.5)
    long_answer = " ".join(["Two and two is four."] * 20)  # more audio than the socket buffers take

    async def body(server, url):
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosedError

        async with connect(url, proxy=None, compression=None, max_queue=1, max_size=2**24) as slow:
            for chunk in np.array_split(QUESTION, 28):
                await slow.send(pcm(chunk))
            await slow.send(json.dumps({"type": "end"}))
            await until(lambda: server.finished)
            after = await stream(url, QUESTION, speed=SPEED)  # max_sessions=1: the slot was freed
            try:
                async for _ in slow:
                    pass
            except ConnectionClosedError:
                pass
            return list(server.finished), slow.close_code, after

    finished, code, after = run_with_server(body, max_sessions=1, overrides=["answer.max_sentences=0"],
                                            replies=[long_answer, ANSWER], tts_seconds_per_char=1.0)
    assert finished[0].end == "too slow" and code == 1008
    assert after.answers == [ANSWER] and after.close_code == 1000


def test_speech_while_the_answer_streams_back_barges_in_and_is_answered_next():
    # A long answer, generated slowly enough that the client can interrupt it while it streams back.
    long_answer = " ".join(["Two plus two is four."] * 8)

    async def body(server, url):
        from websockets.asyncio.client import connect

        events, answering = [], asyncio.Event()

        async def send(ws, samples):  # in 20 ms pieces at SPEED x real time
            for chunk in np.array_split(samples, len(samples) // 320):
                await ws.send(pcm(chunk))
                await asyncio.sleep(0.02 / SPEED)

        async with connect(url, proxy=None) as ws:
            async def receive():
                async for message in ws:
                    if isinstance(message, str):
                        events.append(json.loads(message))
                        if events[-1]["event"] == "TTSAudio":
                            answering.set()

            receiver = asyncio.create_task(receive())
            await send(ws, QUESTION)
            await asyncio.wait_for(answering.wait(), 10)  # the first answer's audio is coming back
            await send(ws, QUESTION)  # the user asks again over it
            await ws.send(json.dumps({"type": "end"}))
            await receiver
            return events, ws.close_code

    events, code = run_with_server(body, overrides=["answer.max_sentences=0"], replies=[long_answer, ANSWER],
                                   token_s=0.1)  # ~4 s of generation: still running when the user speaks
    barge = [e for e in events if e["event"] == "BargeIn"]
    assert len(barge) == 1 and barge[0]["turn"] == 1 and barge[0]["generation_stopped"]
    first = [e for e in events if e["event"] == "AnswerDone" and e["turn"] == 1][0]
    assert first["interrupted"] and len(first["text"]) < len(long_answer)
    # After the barge-in the first answer sends nothing more: no text, no audio, only its ending.
    after = [e["event"] for e in events[events.index(barge[0]):] if e.get("turn") == 1]
    assert after == ["BargeIn", "AnswerDone", "TurnDone", "Latency"]
    # The interruption is the next turn, heard from its first word and answered in full.
    finals = [(e["turn"], e["stable"]) for e in events if e["event"] == "TranscriptUpdate" and e["final"]]
    assert finals == [(1, "What is two plus two?"), (2, "What is two plus two?")]
    second = [e for e in events if e["event"] == "AnswerDone" and e["turn"] == 2]
    assert [e["text"] for e in second] == [ANSWER] and not second[0]["interrupted"]
    assert (events[-1]["event"], events[-1]["turns"], code) == ("SessionEnd", 2, 1000)


def test_shutdown_closes_sessions_with_going_away_and_stops_their_lanes():
    async def body(server, url):
        client = asyncio.create_task(stream(url, np.concatenate([QUESTION] * 4), speed=1.0))
        while not server.sessions:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.8)
        await server.stop()
        return await client, list(server.finished)

    result, finished = run_with_server(body)
    assert result.close_code == 1001
    assert finished[0].end == "shutdown"


def test_sigterm_stops_the_server_gracefully():
    config = load_config(overrides=["mode=direct"])
    server = VoiceServer(config, fake_backends(), host="127.0.0.1", port=0, make_is_speech=lambda: energy_vad)
    said = []

    def announce(line):
        said.append(line)
        if line.startswith("serving"):
            threading.Timer(0.2, os.kill, args=(os.getpid(), signal.SIGTERM)).start()

    asyncio.run(asyncio.wait_for(run_until_signalled(server, announce=announce), timeout=20))
    assert said[0].startswith("serving on http://127.0.0.1:") and said[-1] == "server stopped"
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_http_serves_the_page_and_health_on_the_same_port():
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    async def body(server, url):
        base = f"http://127.0.0.1:{server.port}"

        def fetch(path):
            try:
                with opener.open(base + path, timeout=5) as response:
                    return response.status, response.headers["Content-Type"], response.read()
            except urllib.error.HTTPError as err:
                return err.code, None, b""

        return await asyncio.gather(*(asyncio.to_thread(fetch, p) for p in ("/", "/health", "/nope", "/ws")))

    page, health, missing, ws_plain = run_with_server(body)
    assert page[0] == 200 and page[1].startswith("text/html") and b"getUserMedia" in page[2]
    assert health[0] == 200 and json.loads(health[2])["max_sessions"] == 2
    assert missing[0] == 404
    assert ws_plain[0] == 426  # a plain GET on the WebSocket endpoint
