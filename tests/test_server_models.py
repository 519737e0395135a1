"""server/models.py: sessions share the loaded models; in-process language models take turns under a lock,
a serving engine's client (engine openai, `concurrent = True`) is called by every session at once."""

import threading
import time

from voice_livemind.llm.base import Generation
from voice_livemind.pipeline.backends import Backends, WithThreads
from voice_livemind.server.models import LockedChat, ModelLocks, share_backends


class SlowChat:
    """A fake engine whose calls take 0.2 s and record how many ran at once."""

    def __init__(self, concurrent: bool):
        self.concurrent = concurrent
        self.name = "slow"
        self.running = 0
        self.most = 0
        self._count = threading.Lock()

    def generate(self, messages, max_new_tokens, **kwargs):
        with self._count:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.2)
        with self._count:
            self.running -= 1
        return Generation(text="ok", tokens=1, prompt_tokens=1, stop_reason="end")


def overlap(model, sessions=4) -> tuple[int, float]:
    backends = Backends(is_speech=lambda frame: False, asr=object(), inference_model=WithThreads(model, 1),
                        answer_model=WithThreads(model, 1, 2), tts=type("T", (), {"sample_rate": 16000})())
    locks = ModelLocks()
    views = [share_backends(backends, locks, lambda frame: False) for _ in range(sessions)]
    threads = [threading.Thread(target=v.answer_model.generate, args=([], 4)) for v in views]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return model.most, time.monotonic() - start


def test_an_in_process_model_serves_one_session_at_a_time():
    model = SlowChat(concurrent=False)
    most, elapsed = overlap(model)
    assert most == 1 and elapsed >= 0.8


def test_no_lock_serialises_the_sessions_calls_to_a_serving_engine():
    model = SlowChat(concurrent=True)
    backends = Backends(is_speech=None, asr=object(), inference_model=model, answer_model=model,
                        tts=type("T", (), {"sample_rate": 16000})())
    assert not isinstance(share_backends(backends, ModelLocks(), None).answer_model, LockedChat)
    most, elapsed = overlap(model)
    assert most == 4 and elapsed < 0.6


def test_the_openai_engine_says_it_takes_concurrent_calls():
    from voice_livemind.llm.openai_backend import OpenAIChatModel

    assert OpenAIChatModel.concurrent is True
