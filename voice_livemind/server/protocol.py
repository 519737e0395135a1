"""The wire protocol of `voice-livemind serve`, version 1: what the client and the server send each other.

Client to server, over the WebSocket endpoint `/ws`:
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
  (stop playing now), `BargeInIgnored`, `NonFiniteSamples` (`samples` NaN/inf samples from `audio_t` to
  `end_audio_t` were replaced by silence; once per stretch); `Latency` after each answered turn (the fields of latency.json);
  `Error` (`code`, `message`); `SessionEnd` last.
- after each `TTSAudio` text frame (whose `bytes` gives the length), one binary frame: its audio as
  pcm_s16le mono at its `sample_rate`.
Close codes: 1000 done, 1001 server shutting down, 1003 bad audio format, 1008 client too slow to read,
1009 a message over MAX_MESSAGE_BYTES (1 MiB: send audio in smaller frames; the reason names the limit),
1011 internal error, 1013 server busy (`server.max_sessions` reached: try again later).
`Error` codes: `bad_message` (not JSON, no `type`, unknown type, `start` after audio: the message is
ignored), `bad_audio` (a binary frame that is not whole samples: dropped), `bad_format` (the `start` asks
for audio the server does not take: closed with 1003), `internal` (closed with 1011), `busy` (1013).

This module only turns messages into values and back; `session.py` decides what to do with them.
"""

from __future__ import annotations

import json

import numpy as np

from voice_livemind import events as ev
from voice_livemind.audio.pcm import from_pcm16, to_pcm16

VERSION = 1
CLOSE_DONE, CLOSE_SHUTDOWN, CLOSE_BAD_DATA, CLOSE_TOO_SLOW, CLOSE_INTERNAL, CLOSE_BUSY = 1000, 1001, 1003, 1008, 1011, 1013
CLOSE_TOO_BIG = 1009  # sent by the WebSocket layer for a message over MAX_MESSAGE_BYTES
MAX_MESSAGE_BYTES = 2**20  # one client message at most (16 kHz pcm_f32le: 16 s of audio)
ENCODINGS = ("pcm_s16le", "pcm_f32le")
DEFAULT_ENCODING = "pcm_s16le"
CONTROL_TYPES = ("start", "end", "report")


class ProtocolError(ValueError):
    """A client message the server cannot take; `code` is the `Error` event's code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


# -- server to client ---------------------------------------------------------------------------------
def _text(message: dict) -> str:
    return json.dumps(message)


def encode(event: ev.Event) -> list[str | bytes]:
    """An event as the frames sent to the client: JSON text, then PCM for TTSAudio."""
    message = event.to_json()
    if isinstance(event, ev.TTSAudio):
        pcm = to_pcm16(event.samples)
        message["bytes"] = len(pcm)
        return [_text(message), pcm]
    return [_text(message)]


def ready(session: int, sample_rate: int, tts_sample_rate: int) -> str:
    """The first message of a session: the protocol version and the audio formats."""
    return _text({"event": "Ready", "protocol": VERSION, "session": session, "sample_rate": sample_rate,
                  "encoding": DEFAULT_ENCODING, "tts_sample_rate": tts_sample_rate})


def error(code: str, message: str) -> str:
    return _text({"event": "Error", "code": code, "message": message})


def latency(t: float, turn: int, fields: dict) -> str:
    """A turn's latencies (the fields of latency.json), sent after its `TurnDone`."""
    return _text({"event": "Latency", "t": t, "turn": turn, **fields})


def session_end(turns: int) -> str:
    return _text({"event": "SessionEnd", "turns": turns})


def close_code(end: str) -> int:
    """The close code for how a session ended (`SessionSummary.end`)."""
    return {"done": CLOSE_DONE, "bad data": CLOSE_BAD_DATA, "error": CLOSE_INTERNAL, "too slow": CLOSE_TOO_SLOW,
            "shutdown": CLOSE_SHUTDOWN, "message too big": CLOSE_TOO_BIG}.get(end, CLOSE_DONE)


# -- client to server ---------------------------------------------------------------------------------
def parse_control(text: str) -> dict:
    """A client's text frame as a message with a known `type`; ProtocolError("bad_message") otherwise."""
    try:
        message = json.loads(text)
        kind = message["type"]
    except (ValueError, KeyError, TypeError):
        raise ProtocolError("bad_message", f"expected a JSON object with a 'type', got {text[:80]!r}") from None
    if kind not in CONTROL_TYPES:
        raise ProtocolError("bad_message", f"unknown message type {kind!r} ({', '.join(CONTROL_TYPES)})")
    return message


def audio_encoding(start: dict, sample_rate: int) -> str:
    """The encoding a `start` message asks for; ProtocolError("bad_format") unless it is mono at
    `sample_rate` in one of ENCODINGS."""
    rate, channels = start.get("sample_rate", 16000), start.get("channels", 1)
    encoding = start.get("encoding", DEFAULT_ENCODING)
    if rate != sample_rate or channels != 1 or not isinstance(encoding, str) or encoding not in ENCODINGS:
        raise ProtocolError("bad_format", f"audio must be {sample_rate} Hz mono {' or '.join(ENCODINGS)}; got "
                                          f"{rate} Hz, {channels} channel(s), {encoding!r}: resample on the client")
    return encoding


def decode_audio(data: bytes, encoding: str) -> np.ndarray:
    """A binary frame as float32 samples; ProtocolError("bad_audio") if it is not whole samples."""
    size = 2 if encoding == "pcm_s16le" else 4
    if len(data) % size:
        raise ProtocolError("bad_audio", f"a binary frame of {len(data)} bytes is not whole {size}-byte samples; "
                                         f"the frame was dropped")
    if encoding == "pcm_s16le":
        return from_pcm16(data)
    return np.frombuffer(data, dtype="<f4").astype(np.float32)
