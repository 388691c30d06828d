"""Event reports: a full report soon after a change, between the regular beats.

Any thread says what changed with ``notice`` (the monitor after a probe
cycle, the daemon when the device set changes).  Changes coalesce: the
report is due ``event_debounce`` seconds after the first pending change,
and never sooner than ``event_min_gap`` after the previous event report, so
a flapping camera costs the platform one report per gap.  A change noticed
while a report is due or being sent waits for the next one: none is lost.

An ``EventLoop`` thread sends them, beside the beat loop and never through
it: a beat whose POSTs are retried for most of an interval (a platform
down) must not hold back the report a healthy platform is waiting for.
When the grid's next beat comes within the debounce window anyway, that
beat carries the change instead.  A regular beat takes the pending changes
before it snapshots the devices (``beat_carries``), so what it reports is
never reported again as an event, and a change noticed during its snapshot
is sent later, not lost.  An event report ends before the next slot.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

SHOWN = 5  # changes named in one event report's log line


class Events:
    def __init__(self, debounce: float, min_gap: float, enabled: bool = True,
                 clock: Callable[[], float] = time.monotonic):
        self.debounce = debounce
        self.min_gap = min_gap
        self.enabled = enabled
        self.clock = clock
        self.wake: Callable[[], None] = lambda: None  # the beat loop's: a change is pending
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._more = 0  # changes pending beyond those kept by name
        self._first = 0.0  # clock time of the first pending change
        self._last_sent = float("-inf")
        self.sent = 0  # event reports made (one per trigger, whatever the targets said)
        self.carried = 0  # pending changes a regular beat reported instead

    def configure(self, debounce: float, min_gap: float, enabled: bool) -> None:
        self.debounce, self.min_gap, self.enabled = debounce, min_gap, enabled
        if not enabled:
            self.take()

    def notice(self, what: str) -> None:
        """A change the platform should hear of soon (one line, e.g. 'cam1 offline')."""
        if not self.enabled:
            return
        with self._lock:
            if not self._pending and not self._more:
                self._first = self.clock()
            if len(self._pending) < SHOWN:
                self._pending.append(what)
            else:
                self._more += 1
        self.wake()

    def due(self) -> float | None:
        """When the next event report should go (clock time), None with nothing pending."""
        with self._lock:
            if not self._pending and not self._more:
                return None
            return max(self._first + self.debounce, self._last_sent + self.min_gap)

    def take(self) -> str:
        """The pending changes, described in one line ('' for none); they are cleared."""
        with self._lock:
            pending, more = self._pending, self._more
            self._pending, self._more = [], 0
        if more:
            pending = pending + [f"{more} more"]
        return "; ".join(pending)

    def beat_carries(self) -> None:
        """A regular beat is about to snapshot: it reports what is pending."""
        if self.take():
            self.carried += 1

    def sending(self) -> str:
        """The changes an event report sent now carries ('' when a beat took them first);
        starts its gap."""
        taken = self.take()
        if taken:
            self._last_sent = self.clock()
            self.sent += 1
        return taken


class EventLoop:
    """The thread that sends event reports when they are due.

    ``send(next_beat)`` makes one (it ends before ``next_beat``, a clock
    time); ``next_slot(t)`` is the beat loop's: the first slot at or after t.
    """

    def __init__(self, events: Events, send: Callable[[float], object],
                 next_slot: Callable[[float], float], stop: threading.Event):
        self.events = events
        self.send = send
        self.next_slot = next_slot
        self.stop = stop
        self._cond = threading.Condition()
        self._woken = False
        events.wake = self.wake

    def wake(self) -> None:
        with self._cond:
            self._woken = True
            self._cond.notify()

    def step(self) -> float | None:
        """Send the event report if it is due; else the seconds until it is worth looking
        again (None: until a change wakes the loop)."""
        events = self.events
        at = events.due()
        if at is None:
            return None
        now = events.clock()
        when = max(at, now)
        beat = self.next_slot(when)
        if beat - when <= events.debounce:  # the beat carries it; look again after it
            return beat - now + events.debounce
        if at > now:
            return at - now
        self.send(beat)
        return 0.0

    def run(self) -> None:
        while not self.stop.is_set():
            with self._cond:
                self._woken = False
            try:
                delay = self.step()
            except Exception as exc:  # a bug; event reports must go on
                log.error("event report failed: %s (please report this)", type(exc).__name__)
                log.debug("event report failure", exc_info=True)
                delay = 1.0
            with self._cond:
                if not self._woken and not self.stop.is_set():
                    self._cond.wait(delay)
