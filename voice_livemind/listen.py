"""`voice-livemind listen`: talk to the assistant through the microphone and speaker.

The pipeline's lane runs in a worker thread; the main thread waits for Ctrl-C (or `stop`), then cancels
the lane (its stop flag reaches the model), silences the speaker and closes the streams.
"""

from __future__ import annotations

import sys
import threading

from voice_livemind import events as ev
from voice_livemind.audio.devices import AudioDeviceError, Microphone, SpeakerSink, import_sounddevice, pick_device
from voice_livemind.audio.live import LiveSource
from voice_livemind.clock import RealClock
from voice_livemind.config import Config
from voice_livemind.metrics import turn_latency
from voice_livemind.pipeline import Backends, Pipeline


def format_latency(lat: dict) -> str:
    fmt = lambda key: "n/a" if lat.get(key) is None else f"{lat[key]:.2f} s"
    return (f"latency from the end of speech: end detected {fmt('eou_detected_s')}, first token "
            f"{fmt('first_token_s')}, first audio {fmt('first_audio_s')}, answer done {fmt('answer_done_s')}")


class LiveStatus:
    """What a person at the terminal sees: the text heard (stable, then ~unstable), the notes as they are
    written, the answer, barge-ins and each turn's latency. On a terminal the line of what is heard is
    rewritten in place; elsewhere each update is a line of its own."""

    def __init__(self, stream=sys.stdout):
        self.stream = stream
        self._tty = hasattr(stream, "isatty") and stream.isatty()
        self._open_line = False  # a "you:" line waiting to be rewritten
        self._turn_events: dict[int, list[ev.Event]] = {}

    def _line(self, text: str, in_place: bool = False) -> None:
        if self._tty:
            self.stream.write(("\r\x1b[2K" if self._open_line else "") + text + ("" if in_place else "\n"))
            self._open_line = in_place
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, event: ev.Event) -> None:
        self._turn_events.setdefault(event.turn, []).append(event)
        if isinstance(event, ev.SpeechStarted):
            self._line(f"[{event.t:7.2f}s] listening (turn {event.turn})")
        elif isinstance(event, ev.TranscriptUpdate):
            text = event.stable + (f" ~{event.unstable}" if event.unstable else "")
            self._line(f"you: {text.strip()}", in_place=not event.final)
        elif isinstance(event, ev.Note):
            self._line(f"  note ({event.action}): {event.text}")
        elif isinstance(event, ev.AnswerDone):
            self._line(f"assistant: {event.text}" + (" [interrupted]" if event.interrupted else ""))
        elif isinstance(event, ev.BargeIn):
            self._line(f"  [barge-in: stopped {1000 * (event.t - event.detected_audio_t):.0f} ms after the "
                       f"speech was confirmed]")
        elif isinstance(event, ev.TurnDone):
            events = self._turn_events.pop(event.turn, [])
            if any(isinstance(e, ev.AnswerDone) for e in events):
                self._line(f"  {format_latency(turn_latency(events, event.turn))}")
            for old in [t for t in self._turn_events if t < event.turn]:
                del self._turn_events[old]


def listen(config: Config, backends: Backends, mode: str | None = None, input_device: int | None = None,
           output_device: int | None = None, sd=None, out=sys.stdout, stop: threading.Event | None = None) -> int:
    """Run until Ctrl-C (or until `stop` is set: the last turn is finished first). Returns the turns heard.
    Raises AudioDeviceError, naming what went away, when the microphone or speaker stream ends under it."""
    sd = sd or import_sounddevice()
    input_device = pick_device(sd, input_device, "input")
    output_device = pick_device(sd, output_device, "output")
    clock = RealClock()
    source = LiveSource(clock, config.vad.frame_ms, config.audio.sample_rate)
    sink = SpeakerSink(sd, backends.tts.sample_rate, device=output_device)
    status = LiveStatus(out)
    # A live session keeps the events of its last turn only: memory stays bounded over hours.
    pipeline = Pipeline(config, backends, clock, sink, mode=mode, on_event=status, keep_turns=1)
    worker = threading.Thread(target=pipeline.run_source, args=(source,), name="voice-livemind-lane", daemon=True)
    lost = None
    with Microphone(sd, source, device=input_device, sample_rate=config.audio.sample_rate,
                    block_ms=config.vad.frame_ms) as microphone:
        print("listening: speak (Ctrl-C to quit)", file=out, flush=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.1)
                if stop is not None and stop.is_set():
                    source.close()  # the lane finishes the turn in progress, then returns
                # A sound server stopped or a device unplugged under us: PortAudio ends the stream and
                # nothing more comes. Stop at once with one message instead of waiting forever.
                lost = microphone.lost.reason() or sink.lost.reason()
                if lost:
                    pipeline.cancel()
                    sink.stop()
                    break
        except KeyboardInterrupt:
            pipeline.cancel()
            sink.stop()
        finally:
            source.close()
            worker.join()
    if lost:
        raise AudioDeviceError(f"{lost}; listen stopped after {pipeline.turn} turn(s). Start `voice-livemind "
                               f"listen` again once the sound device is back (`voice-livemind devices` lists them).")
    return pipeline.turn
