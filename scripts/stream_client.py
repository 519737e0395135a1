#!/usr/bin/env python3
"""Stream an audio file to `voice-livemind serve` in real time; write DIR/answer.wav and DIR/events.jsonl.

    .venv/bin/python scripts/stream_client.py audio_fixtures/short_question.wav --url ws://127.0.0.1:8765/ws --out out/client
"""

from __future__ import annotations

import argparse
import asyncio
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("audio", help="wav/flac/ogg/mp3, any rate and channel count (sent as 16 kHz mono)")
    parser.add_argument("--url", default="ws://127.0.0.1:8765/ws", help="the server's WebSocket endpoint")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--speed", type=float, default=1.0, help="1: real time (default); 2: twice as fast ...")
    parser.add_argument("--chunk-ms", type=int, default=20, help="audio per WebSocket message")
    args = parser.parse_args(argv)

    from voice_livemind.audio.source import AudioError, load_audio
    from voice_livemind.stream_client import stream

    try:
        samples = load_audio(args.audio)
    except AudioError as err:
        print(f"audio error: {err}", file=sys.stderr)
        return 3
    try:
        result = asyncio.run(stream(args.url, samples, speed=args.speed, chunk_ms=args.chunk_ms))
    except OSError as err:
        print(f"cannot connect to {args.url}: {err} (is `voice-livemind serve` running?)", file=sys.stderr)
        return 1
    out = result.write(args.out)
    for error in result.of("Error"):
        print(f"server error ({error.get('code')}): {error.get('message')}", file=sys.stderr)
    heard = " / ".join(e["stable"] for e in result.of("TranscriptUpdate") if e.get("final"))
    print(f"heard:   {heard}")
    print(f"answer:  {' / '.join(result.answers)}")
    for latency in result.of("Latency"):
        print(f"latency (turn {latency['turn']}): first audio {latency['first_audio_s']} s after the end of speech")
    print(f"closed:  {result.close_code} {result.close_reason}".rstrip())
    print(f"outputs: {out}/ (answer.wav, events.jsonl)")
    return 0 if result.close_code == 1000 and result.answers else 1


if __name__ == "__main__":
    sys.exit(main())
