"""The beat loop: beat k is due at start + k * interval on the monotonic clock.

Not the ``schedule`` library: it computes the next run from the wall clock
after the job returns, so every beat would drift by the beat's own cost, and
a wall-clock step (NTP, a box without RTC at boot) would move the grid.  A
beat that overruns does not cause a burst of catch-up beats: the slots it
overran are skipped and logged (Telegraf's rule).
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
                 clock: Callable[[], float] = time.monotonic, name: str = "beat"):
        self.name = name
        self.beat = beat
        self.interval = interval
        self.stop = stop
        self.clock = clock
        self.skipped = 0

    def run(self) -> None:
        start = self.clock()
        slot = 0
        while not self.stop.is_set():
            try:
                self.beat()
            except Exception as exc:  # a bug; the loop must go on
                log.error("%s %d failed: %s (please report this)", self.name, slot,
                          type(exc).__name__)
                log.debug("beat failure", exc_info=True)
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
                left = due - self.clock()
                if left <= 0:
                    break
                self.stop.wait(left)
