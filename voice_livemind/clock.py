"""The one owner of time. Nothing else in the package calls time.* directly.

- RealClock: wall time; `sleep` really sleeps. Used for live audio and real-time replay.
- FastForwardClock: wall time that skips idle waits. Computation advances it as it really takes time,
  but waiting for audio that "has not arrived yet" jumps ahead instantly. This is the paper's measurement
  method (real model calls advance a simulated input clock) and makes replays as fast as the compute.
- VirtualClock: fully simulated; time moves only through `sleep`. Fakes call `sleep(cost)` to model
  compute time, so tests are deterministic.
"""

from __future__ import annotations

import time


class RealClock:
    def __init__(self) -> None:
        self._t0 = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self._t0

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def sleep_until(self, t: float) -> None:
        self.sleep(t - self.now())


class FastForwardClock(RealClock):
    def __init__(self) -> None:
        super().__init__()
        self._skipped = 0.0

    def now(self) -> float:
        return super().now() + self._skipped

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._skipped += seconds


class VirtualClock:
    def __init__(self, start: float = 0.0) -> None:
        self._t = start

    def now(self) -> float:
        return self._t

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._t += seconds

    def sleep_until(self, t: float) -> None:
        self.sleep(t - self._t)

    def rewind(self, t: float = 0.0) -> "VirtualClock":
        """Start over at `t`: lets a test replay several runs whose fakes hold this one clock."""
        self._t = t
        return self


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
