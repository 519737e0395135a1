"""A WebSocket client for `voice-livemind serve`: stream audio in real time, keep what comes back.

Used by scripts/stream_client.py and the server tests. See voice_livemind/server/protocol.py for the protocol.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voice_livemind.audio.pcm import from_pcm16, to_int16
from voice_livemind.clock import RealClock, async_sleep_until


@dataclass
class StreamResult:
    events: list[dict] = field(default_factory=list)  # every JSON message, with `recv_t` (s since the start)
    audio: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (rate, float32) per TTSAudio
    close_code: int | None = None
    close_reason: str = ""

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e.get("event") == kind]

    @property
    def answers(self) -> list[str]:
        return [e["text"] for e in self.of("AnswerDone")]

    def answer_audio(self) -> tuple[int, np.ndarray]:
        rate = self.audio[0][0] if self.audio else 22050
        chunks = [a for r, a in self.audio if r == rate]
        return rate, (np.concatenate(chunks) if chunks else np.zeros(0, np.float32))

    def write(self, out_dir: str | Path) -> Path:
        """DIR/events.jsonl (what the server sent, with receive times) and DIR/answer.wav."""
        import soundfile

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "events.jsonl", "w") as log:
            for event in self.events:
                log.write(json.dumps(event) + "\n")
        rate, audio = self.answer_audio()
        soundfile.write(str(out / "answer.wav"), audio, rate, subtype="PCM_16")
        return out


async def stream(url: str, samples: np.ndarray, *, speed: float = 1.0, chunk_ms: int = 20, end: bool = True,
                 start: dict | None = None, stop_after_s: float | None = None, open_timeout: float = 10) -> StreamResult:
    """Send 16 kHz mono float `samples` as pcm_s16le chunks, paced at `speed` x real time, then `end`;
    collect events and audio until the server closes. `stop_after_s`: hang up after that much audio
    (a client that goes away mid-turn)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    clock = RealClock()
    result = StreamResult()
    pcm = to_int16(samples)
    step = 16000 * chunk_ms // 1000
    async with connect(url, proxy=None, open_timeout=open_timeout, max_size=2**24) as ws:

        async def receive() -> None:
            pending_audio: dict | None = None
            try:
                async for message in ws:
                    if isinstance(message, bytes):
                        if pending_audio is not None:
                            audio = from_pcm16(message)
                            result.audio.append((pending_audio["sample_rate"], audio))
                            pending_audio = None
                        continue
                    event = json.loads(message)
                    event["recv_t"] = round(clock.now(), 4)
                    result.events.append(event)
                    if event.get("event") == "TTSAudio":
                        pending_audio = event
            except ConnectionClosed:
                pass

        receiver = asyncio.create_task(receive())
        try:
            await ws.send(json.dumps(start or {"type": "start", "sample_rate": 16000, "channels": 1,
                                               "encoding": "pcm_s16le"}))
            for i, begin in enumerate(range(0, pcm.shape[0], step)):
                if stop_after_s is not None and begin / 16000 >= stop_after_s:
                    await ws.close()
                    break
                await async_sleep_until(clock, (begin + step) / 16000 / speed)
                await ws.send(pcm[begin : begin + step].tobytes())
            else:
                if end:
                    await ws.send(json.dumps({"type": "end"}))
        except ConnectionClosed:
            pass
        await receiver
        result.close_code, result.close_reason = ws.close_code, ws.close_reason or ""
    return result
