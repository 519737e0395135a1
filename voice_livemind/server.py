"""`voice-livemind serve`: a WebSocket server for clients that stream their microphone, and the web page.

HTTP, on the same port: `GET /` is the web page (voice_livemind/web/index.html), `GET /health` a JSON
status. The WebSocket endpoint is `/ws`.

Protocol (version 1). Client to server:
- optional first text frame `{"type": "start", "sample_rate": 16000, "channels": 1, "encoding": "pcm_s16le"}`
  (`encoding` may be `pcm_f32le`); without it, audio is taken as 16 kHz mono pcm_s16le. Any other rate or
  channel count is answered with an `Error` event and close code 1003: resample on the client.
- binary frames: raw PCM in that format, any length, in real time.
- `{"type": "end"}`: no more audio. The server finishes the turn in progress (answer included), sends
  `SessionEnd` and closes with 1000.
- `{"type": "report", ...}`: free-form client telemetry, kept in the server's session summary.
Server to client:
- text frames, one JSON object each, with an `event` key: `Ready` (session id, sample rates) first, then
  the pipeline's events as `voice-livemind replay` writes them to events.jsonl (`t` is seconds since the
  session started): `SpeechStarted`, `TranscriptUpdate` (`stable`, `unstable`, `final`), `Note`,
  `SpeechEnded`, `AnswerStarted`, `AnswerDelta`, `SentenceReady`, `AnswerDone`, `TurnDone`, `BargeIn`
  (stop playing now), `BargeInIgnored`; `Latency` after each answered turn (the fields of latency.json);
  `Error` (`code`, `message`); `SessionEnd` last.
- after each `TTSAudio` text frame, one binary frame: its audio as pcm_s16le mono at its `sample_rate`.
Close codes: 1000 done, 1001 server shutting down, 1003 bad audio format, 1008 client too slow to read,
1011 internal error, 1013 server busy (`server.max_sessions` reached: try again later).

Concurrency: each session's pipeline runs in a worker thread; all sessions share the loaded models, and a
process-wide lock lets only one model call run at a time (the models share the cores). The VAD is per
session (it keeps state). Shutdown (SIGINT/SIGTERM) cancels every lane, closes the connections with 1001,
and waits for the worker threads.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import signal
import threading
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from voice_livemind import events as ev
from voice_livemind.audio.live import LiveSource
from voice_livemind.clock import RealClock
from voice_livemind.config import Config
from voice_livemind.listen import prune_events
from voice_livemind.metrics import turn_latency
from voice_livemind.pipeline import Backends, Pipeline

log = logging.getLogger(__name__)

PAGE = Path(__file__).resolve().parent / "web" / "index.html"
CLOSE_DONE, CLOSE_SHUTDOWN, CLOSE_BAD_DATA, CLOSE_TOO_SLOW, CLOSE_INTERNAL, CLOSE_BUSY = 1000, 1001, 1003, 1008, 1011, 1013
ENCODINGS = {"pcm_s16le": np.dtype("<i2"), "pcm_f32le": np.dtype("<f4")}
MAX_OUTBOX_BYTES = 16 * 2**20  # waiting for a client that does not read: beyond, the session is closed
DRAIN_TIMEOUT_S = 10.0  # after the last turn, the client has this long to read what is left (else 1008)


# -- shared models, one call at a time ---------------------------------------------------------------
class _LockedChat:
    def __init__(self, inner, lock: threading.Lock):
        self._inner, self._lock = inner, lock
        self.name = getattr(inner, "name", "model")

    def generate(self, *args, **kwargs):
        with self._lock:
            return self._inner.generate(*args, **kwargs)

    def prefill(self, messages):
        with self._lock:
            return self._inner.prefill(messages)


class _LockedASR:
    def __init__(self, inner, lock: threading.Lock):
        self._inner, self._lock = inner, lock

    def transcribe(self, audio, prompt):
        with self._lock:
            return self._inner.transcribe(audio, prompt)


class _LockedTTS:
    def __init__(self, inner, lock: threading.Lock):
        self._inner, self._lock = inner, lock
        self.sample_rate = inner.sample_rate

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        chunks = self._inner.synthesize(text)
        while True:
            with self._lock:  # each chunk is one model call; between chunks other sessions may run
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk


def share_backends(backends: Backends, lock: threading.RLock, is_speech) -> Backends:
    """A session's view of the shared models: every model call holds `lock`; the VAD is the session's."""
    answer = _LockedChat(backends.answer_model, lock)
    inference = answer if backends.inference_model is backends.answer_model else _LockedChat(backends.inference_model, lock)
    return Backends(is_speech=is_speech, asr=_LockedASR(backends.asr, lock), inference_model=inference,
                    answer_model=answer, tts=_LockedTTS(backends.tts, lock))


class _ClientSink:
    """The client plays the audio (TTSAudio events carry it); a BargeIn event tells it to stop."""

    def write(self, samples: np.ndarray, sample_rate: int) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


# -- one client --------------------------------------------------------------------------------------
@dataclass
class SessionSummary:
    id: int
    turns: int = 0
    answers: list[str] = field(default_factory=list)
    barge_ins: int = 0
    errors: list[str] = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)
    end: str = ""  # how it ended: "done", "client closed", "shutdown", "bad data", "too slow", "error"
    dropped_frames: int = 0


def encode(event: ev.Event) -> list[str | bytes]:
    """An event as the frames sent to the client: JSON text, then PCM for TTSAudio."""
    message = event.to_json()
    if isinstance(event, ev.TTSAudio):
        pcm = (np.clip(event.samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        message["bytes"] = len(pcm)
        return [json.dumps(message), pcm]
    return [json.dumps(message)]


class Session:
    def __init__(self, server: "VoiceServer", ws, session_id: int):
        self.server, self.ws = server, ws
        self.summary = SessionSummary(session_id)
        config = server.config
        self.clock = server.clock_factory()
        self.source = LiveSource(self.clock, config.vad.frame_ms, config.audio.sample_rate)
        backends = share_backends(server.backends, server.model_lock, server.make_is_speech())
        self.pipeline = Pipeline(config, backends, self.clock, _ClientSink(), mode=server.mode, on_event=self._on_event)
        self.dtype = ENCODINGS["pcm_s16le"]
        self._audio_seen = False
        self._loop = asyncio.get_running_loop()
        self._outbox: asyncio.Queue = asyncio.Queue()
        self._outbox_bytes = 0
        self._lane_done = asyncio.Event()
        self._thread = threading.Thread(target=self._run_lane, name=f"session-{session_id}", daemon=True)

    # worker thread -----------------------------------------------------------------------------------
    def _run_lane(self) -> None:
        try:
            self.pipeline.run_source(self.source)
        except Exception as err:  # a bug or a model failure: the client hears about it, the server goes on
            log.exception("session %d failed", self.summary.id)
            self.summary.end = self.summary.end or "error"
            self._post_threadsafe([json.dumps({"event": "Error", "code": "internal", "message": str(err)})])
        finally:
            self._loop.call_soon_threadsafe(self._lane_done.set)

    def _on_event(self, event: ev.Event) -> None:
        frames = encode(event)
        if isinstance(event, ev.AnswerDone):
            self.summary.answers.append(event.text)
        elif isinstance(event, ev.BargeIn):
            self.summary.barge_ins += 1
        elif isinstance(event, ev.TurnDone):
            self.summary.turns = event.turn
            if any(isinstance(e, ev.AnswerDone) and e.turn == event.turn for e in self.pipeline.events):
                latency = turn_latency(self.pipeline.events, event.turn)
                frames.append(json.dumps({"event": "Latency", "t": event.t, "turn": event.turn, **latency}))
            prune_events(self.pipeline.events, event.turn + 1)
        self._post_threadsafe(frames)

    def _post_threadsafe(self, frames: list) -> None:
        try:
            self._loop.call_soon_threadsafe(self._post, frames)
        except RuntimeError:  # the event loop is gone (shutdown): nobody to send to
            pass

    # event loop --------------------------------------------------------------------------------------
    def _post(self, frames: list) -> None:
        if self._outbox_bytes > MAX_OUTBOX_BYTES:
            if self.summary.end != "too slow":
                self.summary.end = "too slow"
                self.pipeline.cancel()
                self.source.close()
                self._closing = asyncio.ensure_future(self.ws.close(CLOSE_TOO_SLOW, "client too slow to read"))
            return
        for frame in frames:
            self._outbox_bytes += len(frame)
            self._outbox.put_nowait(frame)

    def _error(self, code: str, message: str) -> None:
        self.summary.errors.append(f"{code}: {message}")
        self._post([json.dumps({"event": "Error", "code": code, "message": message})])

    async def _send_loop(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                frame = await self._outbox.get()
                if frame is None:
                    return
                await self.ws.send(frame)
                self._outbox_bytes -= len(frame)
        except ConnectionClosed:
            pass

    async def _receive(self) -> str:
        """Take the client's messages until it ends the input ("end") or goes away ("closed")."""
        from websockets.exceptions import ConnectionClosed

        try:
            async for message in self.ws:
                if isinstance(message, bytes):
                    if not self._take_audio(message):
                        return "bad data"
                    continue
                outcome = self._take_control(message)
                if outcome:
                    return outcome
        except ConnectionClosed:
            pass
        return "client closed"

    def _take_audio(self, data: bytes) -> bool:
        self._audio_seen = True
        if len(data) % self.dtype.itemsize:
            self._error("bad_audio", f"a binary frame of {len(data)} bytes is not whole {self.dtype.itemsize}-byte "
                                     f"samples; the frame was dropped")
            return True
        samples = np.frombuffer(data, dtype=self.dtype).astype(np.float32)
        if self.dtype.kind == "i":
            samples /= 32768.0
        self.source.push(samples)
        return True

    def _take_control(self, text: str) -> str | None:
        try:
            message = json.loads(text)
            kind = message["type"]
        except (ValueError, KeyError, TypeError):
            self._error("bad_message", f"expected a JSON object with a 'type', got {text[:80]!r}")
            return None
        if kind == "start":
            return self._start(message)
        if kind == "end":
            self.source.close()
            return "end"
        if kind == "report":
            if len(self.summary.reports) < 100:
                self.summary.reports.append(message)
            return None
        self._error("bad_message", f"unknown message type {kind!r} (start, end, report)")
        return None

    def _start(self, message: dict) -> str | None:
        if self._audio_seen:
            self._error("bad_message", "'start' must come before any audio; it was ignored")
            return None
        rate, channels = message.get("sample_rate", 16000), message.get("channels", 1)
        encoding = message.get("encoding", "pcm_s16le")
        wanted = self.server.config.audio.sample_rate
        if rate != wanted or channels != 1 or encoding not in ENCODINGS:
            self._error("bad_format", f"audio must be {wanted} Hz mono {' or '.join(ENCODINGS)}; got {rate} Hz, "
                                      f"{channels} channel(s), {encoding!r}: resample on the client")
            return "bad data"
        self.dtype = ENCODINGS[encoding]
        return None

    async def run(self) -> None:
        ready = {"event": "Ready", "protocol": 1, "session": self.summary.id, "sample_rate": self.server.config.audio.sample_rate,
                 "encoding": "pcm_s16le", "tts_sample_rate": self.server.backends.tts.sample_rate}
        self._post([json.dumps(ready)])
        sender = asyncio.create_task(self._send_loop())
        receiver = asyncio.create_task(self._receive())
        lane = asyncio.create_task(self._lane_done.wait())
        self._thread.start()
        try:
            await asyncio.wait({receiver, lane}, return_when=asyncio.FIRST_COMPLETED)
            how = receiver.result() if receiver.done() else None
            if how != "end" and not lane.done():  # gone, bad data or shutdown: stop the lane now
                self.cancel()
            await lane
            await asyncio.to_thread(self._thread.join)
            self.summary.dropped_frames = self.source.dropped
            if not self.summary.end:
                self.summary.end = {"end": "done", None: "done"}.get(how, how)
            if self.summary.end == "done":
                self._post([json.dumps({"event": "SessionEnd", "turns": self.pipeline.turn})])
            if self.summary.end == "too slow":  # `_post` has started the close (1008); the sender, stuck on a
                return                          # client that does not read, is cancelled with what it holds
            self._outbox.put_nowait(None)
            await asyncio.wait({sender}, timeout=DRAIN_TIMEOUT_S)  # (not wait_for: it would cancel the sender)
            if not sender.done():  # the client stopped reading what is left: too slow, as above
                self.summary.end = "too slow"
                self._closing = asyncio.ensure_future(self.ws.close(CLOSE_TOO_SLOW, "client too slow to read"))
                await asyncio.wait({self._closing}, timeout=1.0)  # its close frame goes out before we return
                return
            code = {"done": CLOSE_DONE, "bad data": CLOSE_BAD_DATA, "error": CLOSE_INTERNAL,
                    "shutdown": CLOSE_SHUTDOWN}.get(self.summary.end, CLOSE_DONE)
            await self.ws.close(code, self.summary.end)
        finally:
            receiver.cancel()
            sender.cancel()
            self.cancel()

    def cancel(self) -> None:
        self.pipeline.cancel()
        self.source.close()


# -- the server --------------------------------------------------------------------------------------
class VoiceServer:
    def __init__(self, config: Config, backends: Backends, *, mode: str | None = None, host: str | None = None,
                 port: int | None = None, max_sessions: int | None = None,
                 make_is_speech: Callable[[], Callable[[np.ndarray], bool]] | None = None,
                 clock_factory=RealClock):
        self.config = config
        self.backends = backends
        self.mode = mode
        self.host = host if host is not None else config.server.host
        self.port = port if port is not None else config.server.port
        self.max_sessions = max_sessions if max_sessions is not None else config.server.max_sessions
        self.make_is_speech = make_is_speech or self._webrtc_vad
        self.clock_factory = clock_factory
        self.model_lock = threading.RLock()  # re-entrant: the lane synthesises speech inside generation
        self.sessions: dict[int, Session] = {}
        self.finished: deque[SessionSummary] = deque(maxlen=100)
        self.refused = 0
        self._ids = itertools.count(1)
        self._server = None
        self._closing = False

    def _webrtc_vad(self):
        from voice_livemind.vad.endpointer import WebRtcClassifier

        return WebRtcClassifier(self.config.vad.aggressiveness, self.config.vad.frame_ms)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def start(self) -> None:
        from websockets.asyncio.server import serve

        self._page = PAGE.read_bytes()
        self._server = await serve(self._handle, self.host, self.port, process_request=self._http,
                                   max_size=2**20, ping_interval=20, ping_timeout=60)
        self.port = self._server.sockets[0].getsockname()[1]  # the real one when port 0 was asked

    def _http(self, connection, request):
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        path = request.path.split("?", 1)[0]
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None if path == "/ws" else connection.respond(HTTPStatus.NOT_FOUND, "the WebSocket endpoint is /ws\n")
        if path in ("/", "/index.html"):
            body, kind = self._page, "text/html; charset=utf-8"
        elif path == "/ws":
            return connection.respond(HTTPStatus.UPGRADE_REQUIRED, "a WebSocket client is needed here\n")
        elif path == "/health":
            body, kind = json.dumps(self.health()).encode(), "application/json"
        else:
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        headers = Headers([("Content-Type", kind), ("Content-Length", str(len(body))), ("Cache-Control", "no-store")])
        return Response(HTTPStatus.OK.value, "OK", headers, body)

    def health(self) -> dict:
        return {"sessions": len(self.sessions), "max_sessions": self.max_sessions, "refused": self.refused,
                "finished": len(self.finished)}

    async def _handle(self, ws) -> None:
        if self._closing or len(self.sessions) >= self.max_sessions:
            self.refused += 1
            reason = "server shutting down" if self._closing else f"server busy: {self.max_sessions} sessions in use"
            await ws.send(json.dumps({"event": "Error", "code": "busy", "message": reason + ", try again later"}))
            await ws.close(CLOSE_BUSY, reason)
            return
        session = Session(self, ws, next(self._ids))
        self.sessions[session.summary.id] = session
        log.info("session %d started (%d active)", session.summary.id, len(self.sessions))
        try:
            await session.run()
        finally:
            del self.sessions[session.summary.id]
            self.finished.append(session.summary)
            log.info("session %d ended: %s", session.summary.id, session.summary.end)

    async def stop(self) -> None:
        """Graceful shutdown: refuse new sessions, stop every lane, close connections with 1001, wait."""
        self._closing = True
        for session in list(self.sessions.values()):
            session.summary.end = session.summary.end or "shutdown"
            session.cancel()
        if self._server is not None:
            self._server.close(close_connections=True, code=CLOSE_SHUTDOWN, reason="server shutting down")
            await self._server.wait_closed()


async def run_until_signalled(server: VoiceServer, stop: asyncio.Event | None = None, announce=print) -> None:
    """Serve until SIGINT or SIGTERM (or `stop`), then shut down gracefully."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
            pass
    await server.start()
    announce(f"serving on {server.url} (WebSocket {server.url.replace('http', 'ws', 1)}ws); "
             f"up to {server.max_sessions} sessions; Ctrl-C to stop")
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await server.stop()
        announce("server stopped")
