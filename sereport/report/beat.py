"""The beat loop: beat k is due at start + k * interval on the monotonic clock.

Not the ``schedule`` library: it computes the next run from the wall clock
after the job returns, so every beat would drift by the beat's own cost, and
a wall-clock step (NTP, a box without RTC at boot) would move the grid.  A
beat that overruns does not cause a burst of catch-up beats: the slots it
overran are skipped and logged (Telegraf's rule).  ``restart`` starts a new
grid now (a reload changed the interval or the targets); ``tick`` is called
after every beat and at least every ``tick_every`` seconds while waiting, so
a watchdog pet comes from the loop itself and stops when the loop is stuck.

Between slots the loop also runs one extra beat when ``nudge``d (a probe
cycle for a device just added), without moving the grid.  ``next_slot``
says when the grid's next slot falls (the event reports ask it).  While
``idle()`` says there is nothing to do (probe cycles with no device, once a
cycle has seen none), the loop sleeps until nudged, interrupted (then it asks
``idle()`` again), given a new grid, or stopped, instead of waking at every
slot.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)


class BeatLoop:
    def __init__(self, beat: Callable[[], object], interval: float, stop: threading.Event,
                 clock: Callable[[], float] = time.monotonic, name: str = "beat",
                 tick: Callable[[], None] | None = None, tick_every: float | None = None,
                 wait: Callable[[float], object] | None = None,
                 idle: Callable[[], bool] | None = None):
        self.name = name
        self.beat = beat
        self.interval = interval
        self.stop = stop
        self.clock = clock
        self.tick = tick or (lambda: None)
        self.tick_every = tick_every
        self._wake = threading.Event()
        self._wait = wait or self._wake.wait
        self._new_interval: float | None = None
        self._new_origin: float | None = None
        self.origin = 0.0  # the clock time of slot 0 of the current grid
        self.skipped = 0
        self._nudged = False
        self.idle = idle

    def restart(self, interval: float) -> None:
        """Beat now and keep a new grid of ``interval`` from here."""
        self._new_interval = interval
        self._wake.set()

    def align(self, origin: float) -> None:
        """Keep the interval, but move the grid so its slots fall on origin + k * interval
        (the probe cycles go half an interval after the beats, not against them)."""
        self._new_origin = origin
        self._wake.set()

    def next_slot(self, after: float) -> float:
        """The clock time of the first slot of the grid at or after ``after``."""
        interval = self.interval
        return self.origin + max(0, math.ceil((after - self.origin) / interval)) * interval

    def nudge(self) -> None:
        """Run one extra beat soon, between the slots; the grid stays."""
        self._nudged = True
        self._wake.set()

    def interrupt(self) -> None:
        """Cut the current wait short (to notice stop, or that ``idle()`` changed)."""
        self._wake.set()

    def _run_beat(self, slot: int) -> None:
        try:
            self.beat()
        except Exception as exc:  # a bug; the loop must go on
            log.error("%s %d failed: %s (please report this)", self.name, slot, type(exc).__name__)
            log.debug("%s failure", self.name, exc_info=True)
        self.tick()

    def run(self, start: float | None = None) -> None:
        """Beat on the grid from ``start`` (a clock time; now if None) until stop."""
        start = self.clock() if start is None else start
        self.origin = start
        slot = 0
        while not self.stop.is_set():
            self._run_beat(slot)
            now = self.clock()
            following = max(slot + 1, math.ceil((now - start) / self.interval))
            if following > slot + 1:
                missed = following - slot - 1
                self.skipped += missed
                log.warning("%s %d took %.3fs, longer than the %gs interval: "
                            "skipped %d slot(s)", self.name, slot,
                            now - start - slot * self.interval, self.interval, missed)
            slot = following
            due = start + slot * self.interval
            while not self.stop.is_set():
                if self._new_interval is not None:
                    self.interval, self._new_interval = self._new_interval, None
                    start, slot = self.clock(), 0
                    self.origin = start
                    break
                if self._new_origin is not None:
                    start, self._new_origin = self._new_origin, None
                    self.origin = start
                    slot = math.ceil((self.clock() - start) / self.interval)  # < 0: start is ahead
                    due = start + slot * self.interval
                if self._nudged:  # an extra beat between the slots
                    self._nudged = False
                    self._run_beat(slot)
                    continue
                left = due - self.clock()
                if left <= 0:
                    break
                if self.idle is not None and self.idle():
                    # Nothing to do at the next slots: no wake-up until a nudge, a new grid
                    # or stop; the slots slept through are not "skipped", nor run late.
                    self._wake.wait()
                    self._wake.clear()
                    slot = max(slot, math.ceil((self.clock() - start) / self.interval))
                    due = start + slot * self.interval
                    continue
                self._wait(min(left, self.tick_every) if self.tick_every else left)
                self._wake.clear()
                self.tick()
