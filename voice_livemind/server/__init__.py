"""`voice-livemind serve`: a WebSocket server for clients that stream their microphone, and the web page.

HTTP, on the same port: `GET /` is the web page (voice_livemind/web/index.html), `GET /health` a JSON
status. The WebSocket endpoint is `/ws`; what travels on it is documented in `protocol.py`.

The package, one job a module:
- `protocol.py`: the wire format (messages, close codes, audio encodings), encode and decode;
- `session.py`: one client: its audio source, pipeline and sink, and its lifecycle until the close;
- `models.py`: the loaded models shared by all sessions, a lock per kind of model (`share_backends`);
- here: the HTTP/WebSocket server (`VoiceServer`): it admits up to `server.max_sessions` clients (a
  further one gets an `Error` and close code 1013) and shuts down gracefully (`run_until_signalled`).

Concurrency: each session's pipeline runs in its own threads (a scheduler and its compute lanes); all
sessions share the loaded models, with one lock per kind of model (recognition, language models,
synthesis): a session's lanes run side by side, two sessions take turns on a model. The VAD is per session
(it keeps state). Shutdown (SIGINT/SIGTERM) cancels every lane, closes the connections with 1001,
and waits for the worker threads.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import signal
from collections import deque
from http import HTTPStatus
from pathlib import Path
from typing import Callable

import numpy as np

from voice_livemind.clock import RealClock
from voice_livemind.config import Config
from voice_livemind.pipeline import Backends
from voice_livemind.server import protocol
from voice_livemind.server.models import ModelLocks, share_backends
from voice_livemind.server.protocol import encode
from voice_livemind.server.session import DRAIN_TIMEOUT_S, MAX_OUTBOX_BYTES, Session, SessionSummary

__all__ = ["VoiceServer", "run_until_signalled", "Session", "SessionSummary", "ModelLocks", "share_backends", "encode",
           "MAX_OUTBOX_BYTES", "DRAIN_TIMEOUT_S", "PAGE"]

log = logging.getLogger(__name__)

PAGE = Path(__file__).resolve().parent.parent / "web" / "index.html"


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
        self.model_locks = ModelLocks()  # shared by all sessions (models.py)
        self.sessions: dict[int, Session] = {}
        self.finished: deque[SessionSummary] = deque(maxlen=100)
        self.refused = 0
        self._ids = itertools.count(1)
        self._server = None
        self._closing = False

    def _webrtc_vad(self):
        from voice_livemind.vad.detectors import speech_classifier

        return speech_classifier(self.config.vad)  # webrtcvad, confirmed by Silero VAD as the config says

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def start(self) -> None:
        from websockets.asyncio.server import serve

        self._page = PAGE.read_bytes()
        self._server = await serve(self._handle, self.host, self.port, process_request=self._http,
                                   max_size=protocol.MAX_MESSAGE_BYTES, ping_interval=20, ping_timeout=60)
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

    def _new_session(self, ws) -> Session:
        backends = share_backends(self.backends, self.model_locks, self.make_is_speech())
        # The limits are read here, at each session's start, so that they can be changed on the package.
        return Session(ws, next(self._ids), self.config, backends, self.clock_factory(), self.mode,
                       max_outbox_bytes=MAX_OUTBOX_BYTES, drain_timeout_s=DRAIN_TIMEOUT_S)

    async def _handle(self, ws) -> None:
        if self._closing or len(self.sessions) >= self.max_sessions:
            self.refused += 1
            reason = "server shutting down" if self._closing else f"server busy: {self.max_sessions} sessions in use"
            await ws.send(protocol.error("busy", reason + ", try again later"))
            await ws.close(protocol.CLOSE_BUSY, reason)
            return
        session = self._new_session(ws)
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
            self._server.close(close_connections=True, code=protocol.CLOSE_SHUTDOWN, reason="server shutting down")
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
