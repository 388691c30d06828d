"""The beat loop: beat k is due at start + k * interval on the monotonic clock.

Not the ``schedule`` library: it computes the next run from the wall clock
after the job returns, so every beat would drift by the beat's own cost, and
a wall-clock step (NTP, a box without RTC at boot) would move the grid.  A
beat that overruns does not cause a burst of catch-up beats: the slots it
overran are skipped and logged (Telegraf's rule).  ``restart`` starts a new
grid now (a reload changed the interval or the targets); ``tick`` is called
after every beat and at least every ``tick_every`` seconds while waiting, so
a watchdog pet comes from the loop itself and stops when the loop is stuck.

Between slots the loop also runs what is asked of it without moving the
grid: ``nudge`` runs one extra beat now (a probe cycle for a device just
added), and an ``events`` source (report/events.py) gets its event report
sent at the time it asks, unless the next slot comes within its debounce
window, when that slot's beat carries the change.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from sereport.report.events import Events

log = logging.getLogger(__name__)


class BeatLoop:
    def __init__(self, beat: Callable[[], object], interval: float, stop: threading.Event,
                 clock: Callable[[], float] = time.monotonic, name: str = "beat",
                 tick: Callable[[], None] | None = None, tick_every: float | None = None,
                 wait: Callable[[float], object] | None = None,
                 events: Events | None = None,
                 send_event: Callable[[float], object] | None = None):
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
        self.events = events
        self.send_event = send_event
        self._nudged = False
        if events is not None:
            events.wake = self._wake.set

    def restart(self, interval: float) -> None:
        """Beat now and keep a new grid of ``interval`` from here."""
        self._new_interval = interval
        self._wake.set()

    def align(self, origin: float) -> None:
        """Keep the interval, but move the grid so its slots fall on origin + k * interval
        (the probe cycles go half an interval after the beats, not against them)."""
        self._new_origin = origin
        self._wake.set()

    def nudge(self) -> None:
        """Run one extra beat soon, between the slots; the grid stays."""
        self._nudged = True
        self._wake.set()

    def interrupt(self) -> None:
        """Cut the current wait short (to notice stop)."""
        self._wake.set()

    def _run_beat(self, slot: int, work: Callable[[], object] | None = None) -> None:
        try:
            (work or self.beat)()
        except Exception as exc:  # a bug; the loop must go on
            log.error("%s %d failed: %s (please report this)", self.name, slot, type(exc).__name__)
            log.debug("%s failure", self.name, exc_info=True)
        self.tick()

    def _between(self, slot: int, due: float) -> float | None:
        """Run what is asked between slots, if it is time; else when to look again."""
        if self._nudged:
            self._nudged = False
            self._run_beat(slot)
            return None
        if self.events is None or self.send_event is None:
            return due
        at = self.events.due()
        if at is None or due - max(at, self.clock()) <= self.events.debounce:
            return due  # nothing pending, or the next beat carries it
        if at > self.clock():
            return at
        self._run_beat(slot, lambda: self.send_event(due))
        return None

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
                until = self._between(slot, due)
                if until is None:
                    continue  # it ran: look at the clock and the flags again
                left = until - self.clock()
                if due - self.clock() <= 0:
                    break
                if left <= 0:
                    continue
                self._wait(min(left, self.tick_every) if self.tick_every else left)
                self._wake.clear()
                self.tick()
