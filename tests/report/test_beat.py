from __future__ import annotations

import logging
import threading
import time

from sereport.report.beat import BeatLoop


class FakeTime:
    """A monotonic clock and a stop event whose wait() moves the clock."""

    def __init__(self, start=1000.0):
        self.now = start
        self._set = False

    def clock(self):
        return self.now

    def is_set(self):
        return self._set

    def set(self):
        self._set = True

    def wait(self, seconds):
        self.now += seconds
        return self._set


def run_loop(costs, interval=1.0):
    """Run beats costing the given seconds each; return the times they started."""
    fake = FakeTime()
    started = []

    def beat():
        started.append(fake.now - 1000.0)
        fake.now += costs[len(started) - 1]
        if len(started) == len(costs):
            fake.set()

    loop = BeatLoop(beat, interval, fake, clock=fake.clock, wait=fake.wait)
    loop.run()
    return started, loop


def test_grid_does_not_drift_with_beat_cost():
    started, loop = run_loop([0.3] * 10)
    assert started == [float(k) for k in range(10)]
    assert loop.skipped == 0


def test_overrun_skips_slots_instead_of_bursting(caplog):
    with caplog.at_level(logging.WARNING):
        started, loop = run_loop([0.1, 2.5, 0.1, 0.1])
    assert started == [0.0, 1.0, 4.0, 5.0]  # slots 2 and 3 skipped, no catch-up burst
    assert loop.skipped == 2
    assert "skipped 2 slot(s)" in caplog.records[0].getMessage()


def test_beat_that_ends_exactly_on_the_next_slot_does_not_skip():
    started, loop = run_loop([1.0, 0.0, 0.0])
    assert started == [0.0, 1.0, 2.0] and loop.skipped == 0


def test_failing_beat_does_not_stop_the_loop(caplog):
    fake = FakeTime()
    calls = []

    def beat():
        calls.append(fake.now)
        if len(calls) == 3:
            fake.set()
        raise ValueError("boom")

    with caplog.at_level(logging.ERROR):
        BeatLoop(beat, 2.0, fake, clock=fake.clock, wait=fake.wait).run()
    assert len(calls) == 3
    assert "beat 0 failed: ValueError" in caplog.records[0].getMessage()


def test_stop_wakes_the_wait_at_once():
    stop = threading.Event()
    beats = []
    loop = BeatLoop(lambda: beats.append(1), 3600.0, stop)
    thread = threading.Thread(target=loop.run)
    thread.start()
    while not beats:
        time.sleep(0.01)
    stop.set()
    loop.interrupt()
    thread.join(timeout=2)
    assert not thread.is_alive() and beats == [1]


def test_an_idle_loop_sleeps_until_nudged_and_skips_nothing(caplog):
    """Probe cycles with no device: after one, the loop does not wake at every slot; a
    nudge (a device added) runs one at once and the slots come back, none "skipped"."""
    stop = threading.Event()
    beats = []
    idle = [True]
    loop = BeatLoop(lambda: beats.append(1), 0.02, stop, idle=lambda: idle[0])
    thread = threading.Thread(target=loop.run)
    thread.start()
    while not beats:
        time.sleep(0.01)
    time.sleep(0.3)  # 15 slots
    assert beats == [1]
    idle[0] = False
    loop.nudge()
    deadline = time.monotonic() + 10
    while len(beats) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(beats) >= 5  # the nudged one, then the grid's
    idle[0] = True
    time.sleep(0.1)
    settled = len(beats)
    time.sleep(0.2)
    assert len(beats) == settled  # idle again
    stop.set()
    loop.interrupt()  # wakes an idle loop too
    thread.join(timeout=2)
    assert not thread.is_alive()
    assert "skipped" not in caplog.text


def five_beats(interval: float, at_second_beat) -> tuple[list[float], BeatLoop]:
    """Beat start times (from 1000.0) of five beats; at_second_beat(loop) runs in beat 2."""
    fake = FakeTime()
    started = []
    loop = None

    def beat():
        started.append(round(fake.now - 1000.0, 3))
        if len(started) == 2:
            at_second_beat(loop)  # as a reload would, from another thread
        if len(started) == 5:
            fake.set()

    loop = BeatLoop(beat, interval, fake, clock=fake.clock, wait=fake.wait)
    loop.run()
    return started, loop


def test_restart_beats_now_on_a_new_grid():
    started, _ = five_beats(5.0, lambda loop: loop.restart(2.0))
    assert started == [0.0, 5.0, 5.0, 7.0, 9.0]


def test_align_moves_the_grid_and_keeps_the_interval():
    started, loop = five_beats(1.0, lambda loop: loop.align(1000.5))  # slots at 0.5 + k
    assert started == [0.0, 1.0, 1.5, 2.5, 3.5] and loop.origin == 1000.5


def test_tick_while_waiting_and_after_each_beat():
    fake = FakeTime()
    ticks, beats = [], []

    def beat():
        beats.append(fake.now)
        if len(beats) == 2:
            fake.set()

    BeatLoop(beat, 10.0, fake, clock=fake.clock, wait=fake.wait,
             tick=lambda: ticks.append(fake.now - 1000.0), tick_every=3.0).run()
    assert ticks == [0.0, 3.0, 6.0, 9.0, 10.0, 10.0]


def test_a_stuck_beat_stops_the_ticks():
    fake = FakeTime()
    ticks = []

    def stuck_beat():
        fake.now += 100.0  # stuck for 100 s: no tick can happen meanwhile
        fake.set()

    BeatLoop(stuck_beat, 1.0, fake, clock=fake.clock, wait=fake.wait,
             tick=lambda: ticks.append(fake.now - 1000.0), tick_every=0.5).run()
    assert ticks == [100.0]
