"""The voice pipeline: stages around a scheduler (see docs/architecture.md).

- scheduler.py  the turn, the clock and the lanes: feeds audio, gives lanes their jobs, emits events
- lanes.py      worker threads that run jobs and send results back through an inbox
- turn_taking.py  where each frame goes; what the VAD's boundaries mean (start, end, barge-in, ignored)
- recognition.py  listening: when a recognition pass is due, running it on its lane, the final transcript
- thinking.py   the LiveMind loop on the language-model lane: warm cache, notes, yielding
- answer.py     one spoken answer: generation, sentences, synthesis, held output of a speculative answer
- speculation.py  livemind's answer started in a pause, held until the end of the turn is decided
- speaking.py   the sink and the playback clock
- barge_in.py   speech heard while the assistant answers
- backends.py   the models a pipeline runs on (and their loading), the TTS and sink protocols
"""

from voice_livemind.modes import NAMES as MODES, Mode
from voice_livemind.pipeline.backends import TTS, Backends, Sink, load_backends
from voice_livemind.pipeline.scheduler import Pipeline, TurnState

__all__ = ["MODES", "Mode", "TTS", "Backends", "Sink", "load_backends", "Pipeline", "TurnState"]
