"""One client of `voice-livemind serve`: its audio source, pipeline and sink, from `Ready` to the close.

The pipeline runs on a worker thread of its own (its compute lanes beside it) on the shared models; the
asyncio side receives the client's messages (protocol.py) into the source and sends the pipeline's events
back through an outbox. A client that stops reading is closed with 1008 once the outbox holds
`max_outbox_bytes`, or when it has not read the rest `drain_timeout_s` after its last turn.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field

from voice_livemind import events as ev
from voice_livemind.audio.live import LiveSource
from voice_livemind.audio.sink import NullSink
from voice_livemind.config import Config
from voice_livemind.metrics import turn_latency
from voice_livemind.pipeline import Backends, Pipeline
from voice_livemind.server import protocol

log = logging.getLogger(__name__)

MAX_OUTBOX_BYTES = 16 * 2**20  # waiting for a client that does not read: beyond, the session is closed
DRAIN_TIMEOUT_S = 10.0  # after the last turn, the client has this long to read what is left (else 1008)


@dataclass
class SessionSummary:
    id: int
    turns: int = 0
    answers: list[str] = field(default_factory=list)
    barge_ins: int = 0
    errors: list[str] = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)
    end: str = ""  # how it ended: "done", "client closed", "shutdown", "bad data", "too slow", "error",
    # "message too big" (a message over protocol.MAX_MESSAGE_BYTES: the WebSocket layer closed with 1009)
    dropped_frames: int = 0


class ClientSink(NullSink):
    """The client plays the audio (TTSAudio events carry it); a BargeIn event tells it to stop."""

    def stop(self) -> None:
        pass


class Session:
    """`backends` is this session's view of the shared models (models.share_backends)."""

    def __init__(self, ws, session_id: int, config: Config, backends: Backends, clock, mode: str | None = None,
                 *, max_outbox_bytes: int = MAX_OUTBOX_BYTES, drain_timeout_s: float = DRAIN_TIMEOUT_S):
        self.ws = ws
        self.summary = SessionSummary(session_id)
        self.config = config
        self.max_outbox_bytes, self.drain_timeout_s = max_outbox_bytes, drain_timeout_s
        self.clock = clock
        self.source = LiveSource(clock, config.vad.frame_ms, config.audio.sample_rate)
        self.tts_sample_rate = backends.tts.sample_rate
        # keep_turns=1: a session keeps the events of its latest turns only (bounded over hours of use)
        self.pipeline = Pipeline(config, backends, clock, ClientSink(), mode=mode, on_event=self._on_event,
                                 keep_turns=1)
        self.encoding = protocol.DEFAULT_ENCODING
        self._audio_seen = False
        self._loop = asyncio.get_running_loop()
        self._outbox: asyncio.Queue = asyncio.Queue()
        self._outbox_bytes = 0
        self._lane_done = asyncio.Event()
        self._thread = threading.Thread(target=self._run_lane, name=f"session-{session_id}", daemon=True)
        self._closing = None

    # worker thread -----------------------------------------------------------------------------------
    def _run_lane(self) -> None:
        try:
            self.pipeline.run_source(self.source)
        except Exception as err:  # a bug or a model failure: the client hears about it, the server goes on
            log.exception("session %d failed", self.summary.id)
            self.summary.end = self.summary.end or "error"
            self._post_threadsafe([protocol.error("internal", str(err))])
        finally:
            self._loop.call_soon_threadsafe(self._lane_done.set)

    def _on_event(self, event: ev.Event) -> None:
        frames = protocol.encode(event)
        if isinstance(event, ev.AnswerDone):
            self.summary.answers.append(event.text)
        elif isinstance(event, ev.BargeIn):
            self.summary.barge_ins += 1
        elif isinstance(event, ev.TurnDone):
            self.summary.turns = event.turn
            if any(isinstance(e, ev.AnswerDone) and e.turn == event.turn for e in self.pipeline.events):
                frames.append(protocol.latency(event.t, event.turn, turn_latency(self.pipeline.events, event.turn)))
        self._post_threadsafe(frames)

    def _post_threadsafe(self, frames: list) -> None:
        try:
            self._loop.call_soon_threadsafe(self._post, frames)
        except RuntimeError:  # the event loop is gone (shutdown): nobody to send to
            pass

    # event loop --------------------------------------------------------------------------------------
    def _post(self, frames: list) -> None:
        if self._outbox_bytes > self.max_outbox_bytes:
            if self.summary.end != "too slow":
                self._close_too_slow()
            return
        for frame in frames:
            self._outbox_bytes += len(frame)
            self._outbox.put_nowait(frame)

    def _close_too_slow(self) -> None:
        self.summary.end = "too slow"
        self.cancel()  # no synthesis for nobody
        self._closing = asyncio.ensure_future(self.ws.close(protocol.CLOSE_TOO_SLOW, "client too slow to read"))

    def _error(self, err: protocol.ProtocolError) -> None:
        self.summary.errors.append(f"{err.code}: {err}")
        self._post([protocol.error(err.code, str(err))])

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
        """Take the client's messages until it ends the input ("end"), goes away ("client closed") or sends
        what cannot be played ("bad data")."""
        from websockets.exceptions import ConnectionClosed

        try:
            async for message in self.ws:
                outcome = self._take_audio(message) if isinstance(message, bytes) else self._take_control(message)
                if outcome:
                    return outcome
        except ConnectionClosed as closed:
            if closed.sent is not None and closed.sent.code == protocol.CLOSE_TOO_BIG:
                self.summary.errors.append(f"message too big: {closed.sent.reason}")
                return "message too big"
        return "client closed"

    def _take_audio(self, data: bytes) -> None:
        self._audio_seen = True
        try:
            self.source.push(protocol.decode_audio(data, self.encoding))
        except protocol.ProtocolError as err:  # the frame is dropped, the session goes on
            self._error(err)

    def _take_control(self, text: str) -> str | None:
        try:
            message = protocol.parse_control(text)
            if message["type"] == "start":
                if self._audio_seen:
                    raise protocol.ProtocolError("bad_message", "'start' must come before any audio; it was ignored")
                self.encoding = protocol.audio_encoding(message, self.config.audio.sample_rate)
        except protocol.ProtocolError as err:
            self._error(err)
            return "bad data" if err.code == "bad_format" else None
        if message["type"] == "end":
            self.source.close()
            return "end"
        if message["type"] == "report" and len(self.summary.reports) < 100:
            self.summary.reports.append(message)
        return None

    async def run(self) -> None:
        """The session from `Ready` to the close; returns when the lane has stopped and the socket is closed."""
        self._post([protocol.ready(self.summary.id, self.config.audio.sample_rate, self.tts_sample_rate)])
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
                self._post([protocol.session_end(self.pipeline.turn)])
            if self.summary.end == "too slow":  # `_post` has started the close (1008); the sender, stuck on a
                return                          # client that does not read, is cancelled with what it holds
            self._outbox.put_nowait(None)
            await asyncio.wait({sender}, timeout=self.drain_timeout_s)  # (not wait_for: it would cancel the sender)
            if not sender.done():  # the client stopped reading what is left: too slow, as above
                self._close_too_slow()
                await asyncio.wait({self._closing}, timeout=1.0)  # its close frame goes out before we return
                return
            await self.ws.close(protocol.close_code(self.summary.end), self.summary.end)
        finally:
            receiver.cancel()
            sender.cancel()
            self.cancel()

    def cancel(self) -> None:
        """Stop the lane: cancel the pipeline and close the source (from the event loop or any thread)."""
        self.pipeline.cancel()
        self.source.close()
