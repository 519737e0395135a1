"""The one owner of time. Nothing else in the package calls time.* directly.

The pipeline runs a scheduler thread and one worker thread per compute lane (recognition, language model,
speech synthesis). Every blocking wait of those threads goes through the clock (`wait_for`), so one clock
can decide how time passes for all of them:

- RealClock: wall time. Used for live audio and real-time replay.
- FastForwardClock: wall time that skips idle waits. While any lane has work (`work_added` .. `work_done`),
  time runs as it really does; when nothing computes, waiting for audio that "has not arrived yet" jumps ahead at once. This
  is the paper's measurement method, and with several lanes it gives the timeline real-time pacing gives.
- VirtualClock: fully simulated; time moves only when every participating thread waits. Fakes call
  `sleep(cost)` to model compute time. The threads take turns (one runs at a time, the next is chosen by
  wake-up time, then by the order in which they began to wait), so a run with concurrent lanes is
  deterministic: tests assert event order and latencies exactly.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from typing import Callable

Predicate = Callable[[], bool]


class RealClock:
    def __init__(self) -> None:
        self._t0 = time.perf_counter()
        self._cond = threading.Condition()

    def now(self) -> float:
        return time.perf_counter() - self._t0

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def sleep_until(self, t: float) -> None:
        self.sleep(t - self.now())

    def notify(self) -> None:
        """Something a waiter may be waiting for has changed (call it after the change)."""
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, predicate: Predicate, deadline: float = math.inf) -> bool:
        """Block until `predicate()` holds (re-checked on `notify`) or the clock reads `deadline`."""
        with self._cond:
            while not predicate():
                remaining = deadline - self.now()
                if remaining <= 0:
                    return False
                if self._skip_idle(remaining):
                    return predicate()
                self._cond.wait(min(remaining, 3600.0))
            return True

    def _skip_idle(self, seconds: float) -> bool:
        """Called with the lock held before an idle wait: True if the wait was skipped instead."""
        return False

    def work_added(self) -> None:
        """A job was handed to a lane: compute is pending from now until `work_done` (the fast-forward
        clock skips no time meanwhile, even before the lane's thread has picked the job up)."""

    def work_done(self) -> None:
        """A job handed to a lane has finished (or was dropped)."""

    def start_thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread

    def enter(self) -> None:
        """The calling thread takes part in the clock's scheduling (only the virtual clock cares)."""

    def leave(self) -> None:
        """The calling thread stops taking part."""


class FastForwardClock(RealClock):
    def __init__(self) -> None:
        super().__init__()
        self._skipped = 0.0
        self._busy = 0  # jobs handed to lanes and not finished

    def now(self) -> float:
        return super().now() + self._skipped

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._cond:
                self._skipped += seconds

    def _skip_idle(self, seconds: float) -> bool:
        if self._busy or seconds == math.inf:
            return False  # a lane computes: time runs as it really does
        self._skipped += seconds
        return True

    def work_added(self) -> None:
        with self._cond:
            self._busy += 1

    def work_done(self) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()


class DeadlockError(RuntimeError):
    """Every thread of a virtual-clock run waits for something that no time can bring."""


class VirtualClock:
    """Simulated time for tests. Used from one thread it is a plain counter. Threads that `enter` it (the
    pipeline's scheduler and lanes) take turns: exactly one of them runs; when it waits, the next runs."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = start
        self._cond = threading.Condition()
        self._participants: set[int] = set()
        self._running: int | None = None  # the participant that runs now
        self._waiting: dict[int, tuple[float, int, Predicate | None]] = {}  # ident -> (deadline, order, pred)
        self._order = itertools.count()

    def now(self) -> float:
        return self._t

    def rewind(self, t: float = 0.0) -> "VirtualClock":
        """Start over at `t`: lets a test replay several runs whose fakes hold this one clock."""
        self._t = t
        return self

    # -- single-thread use and compute costs -------------------------------------------------------------
    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if not self._participating():
            self._t += seconds
            return
        self._block(self._t + seconds, None)

    def sleep_until(self, t: float) -> None:
        self.sleep(t - self._t)

    def notify(self) -> None:
        """Waiters' predicates are re-checked whenever the running thread waits: nothing to do."""

    def wait_for(self, predicate: Predicate, deadline: float = math.inf) -> bool:
        if predicate():
            return True
        if not self._participating():
            if deadline == math.inf:
                raise DeadlockError("waiting forever on a virtual clock with no other thread")
            self._t = max(self._t, deadline)
            return predicate()
        self._block(deadline, predicate)
        return predicate()

    def work_added(self) -> None:
        pass

    def work_done(self) -> None:
        pass

    # -- taking turns --------------------------------------------------------------------------------------
    def enter(self) -> None:
        me = threading.get_ident()
        with self._cond:
            self._participants.add(me)
            if self._running is None:
                self._running = me
            else:
                self._waiting[me] = (self._t, next(self._order), None)
                self._cond.wait_for(lambda: self._running == me)

    def leave(self) -> None:
        me = threading.get_ident()
        with self._cond:
            self._participants.discard(me)
            self._waiting.pop(me, None)
            if self._running in (me, None):  # None: a deadlock was reported; let the others wind down
                self._pass_on()

    def start_thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Start a participant: it runs once the threads already running wait."""
        entered = threading.Event()

        def body():
            with self._cond:
                me = threading.get_ident()
                self._participants.add(me)
                self._waiting[me] = (self._t, next(self._order), None)
                entered.set()
                self._cond.wait_for(lambda: self._running == me)
            try:
                target()
            finally:
                self.leave()

        thread = threading.Thread(target=body, name=name, daemon=True)
        thread.start()
        entered.wait()
        return thread

    def _participating(self) -> bool:
        return threading.get_ident() in self._participants

    def _block(self, deadline: float, predicate: Predicate | None) -> None:
        me = threading.get_ident()
        with self._cond:
            self._waiting[me] = (deadline, next(self._order), predicate)
            self._pass_on()
            self._cond.wait_for(lambda: self._running == me)

    def _pass_on(self) -> None:
        """The running thread waits: run a waiter whose predicate holds now (the longest waiting first), else
        move time to the earliest deadline and run that waiter."""
        ready = [(order, ident) for ident, (_, order, pred) in self._waiting.items() if pred is not None and pred()]
        if ready:
            ident = min(ready)[1]
        elif self._waiting:
            deadline, _, ident = min((d, o, i) for i, (d, o, _) in self._waiting.items())
            if deadline == math.inf:
                self._running = None
                self._cond.notify_all()
                raise DeadlockError("every thread on the virtual clock waits for something that will not come")
            self._t = max(self._t, deadline)
        else:
            self._running = None
            return
        del self._waiting[ident]
        self._running = ident
        self._cond.notify_all()


def make_clock(pacing: str):
    """`realtime` replays audio at its natural speed; `fast` skips the waiting but keeps compute time."""
    if pacing == "realtime":
        return RealClock()
    if pacing == "fast":
        return FastForwardClock()
    raise ValueError(f"unknown pacing {pacing!r}: use 'realtime' or 'fast'")


async def async_sleep_until(clock, t: float) -> None:
    """Wait until `clock` reads `t` without blocking an asyncio event loop (network clients)."""
    import asyncio

    delay = t - clock.now()
    if delay > 0:
        await asyncio.sleep(delay)

