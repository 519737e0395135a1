"""Speculation (every answering mode alike): in a pause that may end the turn, the answer starts before the VAD has decided;
its output is held. The end of the turn with the same transcript releases it; speech discards it."""

from __future__ import annotations

from typing import Callable

from voice_livemind import events as ev
from voice_livemind.asr.streaming import Transcript
from voice_livemind.asr.words import words_of
from voice_livemind.pipeline.answer import Answer
from voice_livemind.pipeline.recognition import Recognition
from voice_livemind.vad.endpointer import sounds_unfinished


class Speculation:
    def __init__(self, enabled: bool, pause_s: float, recognition: Recognition,
                 new_answer: Callable[[str, bool], Answer], emit: Callable[..., ev.Event], clock):
        self.enabled = enabled
        self.pause_s = pause_s  # asr.pause_pass_ms: the pause after which the last words are heard
        self.recognition = recognition
        self.new_answer = new_answer
        self.emit = emit
        self.clock = clock
        self.answer: Answer | None = None  # the held answer, while there is one

    def due(self) -> bool:
        """A pause of `pause_s` or more, every word heard by a pass, and a transcript that sounds finished
        (a trailing "and" or comma promises more): the earliest "probably finished". It does not wait for
        the end-of-turn model (asked after vad.min_silence_ms): if the model says finished the turn ends
        and this answer is released at once; if it says not finished the answer is ready when the pause
        reaches vad.max_silence_ms, and discarded if the user goes on."""
        recognition = self.recognition
        if (not self.enabled or self.answer is not None or recognition.endpointer.pause_s < self.pause_s
                or recognition.speech_unheard() or not recognition.lane.idle):
            return False
        text = recognition.asr.final_text()
        return bool(words_of(text)) and not sounds_unfinished(text)

    def start(self) -> None:
        self.answer = self.new_answer(self.recognition.asr.final_text(), True)
        self.emit(ev.SpeculationStarted, text=self.answer.text)
        self.answer.start()

    def discard(self, reason: str) -> None:
        """"speech": the user goes on, the pause did not end the turn; "transcript": it ended with other words."""
        answer, self.answer = self.answer, None
        answer.stop()
        self.emit(ev.SpeculationDiscarded, reason=reason, compute_s=round(self.clock.now() - answer.started, 4))

    def settle(self, transcript: Transcript) -> Answer | None:
        """The turn has ended with this final transcript: the held answer, released, if it answers it."""
        answer = self.answer
        if answer is None:
            return None
        if transcript.stable != answer.text:
            self.discard("transcript")
            return None
        self.answer = None
        self.emit(ev.SpeculationUsed, compute_s=round(self.clock.now() - answer.started, 4), complete=answer.done)
        answer.release()
        return answer
