"""Recognition: the turn's streaming transcript, computed on the recognition lane.

When a pass is due is decided here (from the VAD's view of the speech); the pass itself runs on the lane
on a copy of the buffer while more audio is appended; its words are applied on the scheduler's thread.
"""

from __future__ import annotations

from typing import Callable

from voice_livemind.asr import StreamingASR
from voice_livemind.asr.streaming import Transcript
from voice_livemind.config import Config
from voice_livemind.pipeline.lanes import Job, Lane
from voice_livemind.vad.endpointer import Endpointer

# (transcript, input time the pass heard up to, seconds it took)
OnPass = Callable[[Transcript, float, float], None]


class Recognition:
    def __init__(self, config: Config, backend, lane: Lane, clock, endpointer: Endpointer):
        self.asr = StreamingASR(backend, config.asr, config.audio.sample_rate)
        self.config = config.asr
        self.lane = lane
        self.clock = clock
        self.endpointer = endpointer
        self._turn = 0

    def start_turn(self, turn: int, audio_t0: float, first_audio: list) -> None:
        self._turn = turn
        self.asr.reset(audio_t0)
        for samples in first_audio:
            self.asr.append(samples)

    def speech_unheard(self) -> bool:
        """Some of the speech heard by the VAD has not been through a recognition pass yet: the VAD heard
        speech after what the last pass heard, and audio came into the turn's buffer since then. (Speech after
        the end of the turn, such as a sound too short to interrupt the answer, is not in the buffer: a pass
        would never hear it.)"""
        return self.asr.pending_s > 0 and self.asr.heard_until < self.endpointer.speech_end - 1e-6

    def due(self) -> bool:
        """A pass every `interval_s` of new audio while speech is heard. In a pause only a pass that hears
        speech not heard yet, when due or once the pause lasted `pause_pass_ms`: its text serves the end
        decision and a speculative answer, and it makes the final pass unnecessary."""
        pause = self.endpointer.pause_s
        if pause == 0.0:
            return self.asr.due()
        return self.speech_unheard() and (self.asr.due() or pause >= self.config.pause_pass_ms / 1000)

    def run_pass(self, on_pass: OnPass, ending: bool = False) -> None:
        """One pass over the buffer as it is now; `on_pass` gets its result unless the turn has ended. A pass
        in a pause (or after the end of the turn) may make the final transcript: it gets the encoder window
        of final text (`asr.pause_window_s`), and once the pause is `asr.pause_pass_ms` long it commits
        what it heard (`asr.commit_in_pauses`)."""
        pause_s = self.endpointer.pause_s
        settles = ending or pause_s >= self.config.pause_pass_ms / 1000  # the speaker has finished those words
        request, turn = self.asr.take_pass(may_be_final=ending or pause_s > 0.0, settles=settles), self._turn

        def done(words) -> None:
            if turn != self._turn or words is None:
                return  # a pass of a turn that has ended (barge-in), or dropped before it ran
            transcript = self.asr.apply_pass(request, words)
            on_pass(transcript, request.heard_until, self.clock.now() - job.started)

        job = self.lane.submit(Job("recognise", lambda job: self.asr.recognise(request), done))

    def final(self) -> Transcript:
        """Everything heard, committed (the last pass heard all the speech)."""
        return self.asr.finish(hear_rest=False)
