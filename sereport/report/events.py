"""Event reports: a full report soon after a change, between the regular beats.

Any thread says what changed with ``notice`` (the monitor after a probe
cycle, the daemon when the device set changes).  Changes coalesce: the
report is due ``event_debounce`` seconds after the first pending change,
and never sooner than ``event_min_gap`` after the previous event report, so
a flapping camera costs the platform one report per gap.  A change noticed
while a report is due or being sent waits for the next one: none is lost.

The beat loop does the sending (one thread posts, the grid stays its own):
while it waits for a slot it asks ``due()``, and when the next regular beat
comes within the debounce window anyway, that beat carries the change
instead.  A regular beat takes the pending changes before it snapshots the
devices (``take``), so what it reports is never reported again as an event.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

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
        """The changes an event report sent now carries; starts its gap."""
        self._last_sent = self.clock()
        self.sent += 1
        return self.take()
