"""Compute lanes: one worker thread each, running jobs one at a time in the order they were given.

The scheduler owns every piece of pipeline state; a job gets what it needs when it is submitted (an audio
buffer, a prompt) and hands its results back through the scheduler's inbox, as messages the scheduler
handles on its own thread. A job's stop flag is only a flag: the model checks it once per token, and
nothing runs back into the pipeline from inside a model call.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(eq=False)
class Job:
    """One piece of model work. `work(job)` runs on the lane; `done(result)` runs on the scheduler thread."""

    name: str
    work: Callable[["Job"], Any]
    done: Callable[[Any], None] = lambda result: None
    stop: threading.Event = field(default_factory=threading.Event)
    started: float | None = None  # clock time the lane began it


class Inbox:
    """Messages from the lanes to the scheduler: callables run on the scheduler thread, in arrival order."""

    def __init__(self, clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._messages: deque[Callable[[], None]] = deque()

    def post(self, message: Callable[[], None]) -> None:
        with self._lock:
            self._messages.append(message)
        self._clock.notify()

    def __bool__(self) -> bool:
        return bool(self._messages)

    def take(self) -> list[Callable[[], None]]:
        with self._lock:
            out = list(self._messages)
            self._messages.clear()
        return out


class Lane:
    """A worker thread for one kind of compute (recognition, the language model, speech synthesis)."""

    def __init__(self, name: str, clock, inbox: Inbox, nice: int = 0) -> None:
        self.name = name
        self.nice = nice  # the OS priority of the lane's thread (0: normal; 19: only what others leave)
        self._clock = clock
        self._inbox = inbox
        self._queue: deque[Job] = deque()
        self._lock = threading.Lock()  # the queue is shared by the scheduler and the lane's thread
        self.running: Job | None = None
        self._outstanding = 0  # jobs submitted whose result the scheduler has not handled yet
        self._closed = False
        self._thread = clock.start_thread(self._loop, f"lane-{name}")

    @property
    def idle(self) -> bool:
        """Seen from the scheduler: every job submitted has run and its result has been handled."""
        return self._outstanding == 0

    def submit(self, job: Job) -> Job:
        self._outstanding += 1
        self._clock.work_added()
        with self._lock:
            self._queue.append(job)
        self._clock.notify()
        return job

    def jobs(self) -> list[Job]:
        """The running job and those queued behind it."""
        return ([self.running] if self.running else []) + list(self._queue)

    def cancel(self, keep: Callable[[Job], bool] = lambda job: False) -> None:
        """Stop the running job at its next check and drop the queued ones (except those `keep` keeps): a
        dropped job never runs, its `done` gets None."""
        with self._lock:
            for job in self.jobs():
                if not keep(job):
                    job.stop.set()
            dropped = [job for job in self._queue if not keep(job)]
            self._queue = deque(job for job in self._queue if keep(job))
        for job in dropped:
            self._clock.work_done()
            self._inbox.post(lambda job=job: self._finished(job, None))

    def close(self) -> None:
        """Stop everything; the thread ends once the running job has wound down."""
        self.cancel()
        self._closed = True
        self._clock.notify()

    def join(self) -> None:
        self._thread.join()

    def _loop(self) -> None:
        _set_thread_nice(self.nice)
        while True:
            self._clock.wait_for(lambda: bool(self._queue) or self._closed)
            with self._lock:
                if not self._queue:
                    return
                job = self.running = self._queue.popleft()
            job.started = self._clock.now()
            try:
                result = job.work(job)
            except BaseException as err:  # handed to the scheduler, which raises it
                result = err
            self.running = None
            self._inbox.post(lambda job=job, result=result: self._finished(job, result))
            self._clock.work_done()  # after the post: the result is waiting when the clock may skip again

    def _finished(self, job: Job, result) -> None:
        self._outstanding -= 1
        if isinstance(result, BaseException):
            raise result
        job.done(result)


def _set_thread_nice(nice: int) -> None:
    """Lower the calling thread's OS priority (Linux: niceness is per thread). Where that is not possible
    the lane runs at normal priority."""
    if nice:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except (AttributeError, OSError):
            pass
