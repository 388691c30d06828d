"""Event reports between the beats: debounce, minimum gap, nothing lost, the grid kept.

A fake clock drives the real BeatLoop and Events; changes are noticed at set times, as the
probe loop would notice them while the beat loop waits."""

from __future__ import annotations

import math
import threading
import time

from sereport.report.beat import BeatLoop
from sereport.report.events import EventLoop, Events


class Scenario:
    """Beats every ``interval`` on a fake clock from 0, changes noticed at the given times,
    and the real EventLoop's step() run whenever the real thread would wake: at a change,
    or when the last step said. Records the beats and the event reports until ``until``."""

    def __init__(self, changes, interval=30.0, until=65.0, debounce=0.5, min_gap=2.0,
                 enabled=True, send_cost=0.0):
        self.now = 0.0
        self.changes = sorted(changes.items())
        self.interval = interval
        self.beats: list[float] = []
        self.reports: list[tuple[float, str, float]] = []
        self.send_cost = send_cost
        self.events = Events(debounce, min_gap, enabled, clock=lambda: self.now)
        self.loop = EventLoop(self.events, self.send, self.next_slot, threading.Event())
        self.events.wake = self.woken  # what the thread's condition would do
        self.wake_at = 0.0
        beat_at = 0.0
        while True:
            change_at = self.changes[0][0] if self.changes else float("inf")
            now = min(change_at, beat_at, self.wake_at)
            if now > until:
                break
            self.now = max(self.now, now)
            self._fire()
            if beat_at <= self.now:
                self.events.beat_carries()
                self.beats.append(beat_at)
                beat_at += interval
            if self.wake_at <= self.now:
                delay = self.loop.step()
                self.wake_at = float("inf") if delay is None else self.now + delay

    def woken(self):
        self.wake_at = self.now

    def next_slot(self, after):
        return math.ceil(after / self.interval) * self.interval

    def _fire(self):
        while self.changes and self.changes[0][0] <= self.now:
            self.events.notice(self.changes.pop(0)[1])

    def send(self, next_beat):
        what = self.events.sending()
        self.reports.append((round(self.now, 3), what, next_beat))
        self.now += self.send_cost
        self._fire()  # changes while it is being sent


def test_a_change_is_reported_after_the_debounce_and_the_grid_stays():
    run = Scenario({5.0: "cam1 offline"})
    assert run.reports == [(5.5, "cam1 offline", 30.0)]
    assert run.beats == [0.0, 30.0, 60.0]


def test_changes_within_the_debounce_make_one_report():
    run = Scenario({5.0: "cam1 offline", 5.2: "cam2 offline", 5.4: "cam3 offline"})
    assert run.reports == [(5.5, "cam1 offline; cam2 offline; cam3 offline", 30.0)]


def test_a_flapping_camera_gets_one_report_per_gap_and_its_last_change_is_not_lost():
    run = Scenario({5.0: "cam1 offline", 6.0: "cam1 online", 7.0: "cam1 offline",
                    8.0: "cam1 online"})
    assert run.reports == [(5.5, "cam1 offline", 30.0), (7.5, "cam1 online; cam1 offline", 30.0),
                           (9.5, "cam1 online", 30.0)]
    assert run.events.sent == 3


def test_a_beat_due_within_the_debounce_carries_the_change():
    run = Scenario({29.8: "cam1 offline"})
    assert run.reports == []
    assert run.events.carried == 1
    assert run.beats == [0.0, 30.0, 60.0]


def test_a_beat_due_just_after_the_debounce_carries_the_change_too():
    run = Scenario({29.0: "cam1 offline"})  # due at 29.5; the beat at 30 is within 0.5
    assert run.reports == [] and run.events.carried == 1


def test_a_change_just_after_a_beat_is_reported_as_an_event():
    run = Scenario({30.2: "cam1 offline"})
    assert run.reports == [(30.7, "cam1 offline", 60.0)]


def test_a_change_while_an_event_report_is_sent_goes_in_the_next_one():
    run = Scenario({5.0: "cam1 offline", 5.6: "cam2 offline"}, send_cost=0.3)
    assert [(t, what) for t, what, _ in run.reports] == [(5.5, "cam1 offline"),
                                                         (7.5, "cam2 offline")]


def test_many_changes_are_named_up_to_a_few_and_counted():
    run = Scenario({5.0 + i / 100: f"cam{i} offline" for i in range(12)})
    assert len(run.reports) == 1
    assert run.reports[0][1].endswith("cam4 offline; 7 more")


def test_switched_off_only_the_grid_reports():
    run = Scenario({5.0: "cam1 offline"}, enabled=False)
    assert run.reports == [] and run.events.carried == 0
    assert run.beats == [0.0, 30.0, 60.0]


def test_nudge_runs_an_extra_beat_without_moving_the_grid():
    times = []

    class Clock:
        now = 0.0

    stop = type("Stop", (), {"flag": False, "is_set": lambda self: self.flag})()

    def beat():
        times.append(Clock.now)
        if len(times) == 4:
            stop.flag = True

    def wait(seconds):
        if Clock.now < 2.5 <= Clock.now + seconds and len(times) == 1:
            Clock.now = 2.5
            loop.nudge()
        else:
            Clock.now += seconds

    loop = BeatLoop(beat, 10.0, stop, clock=lambda: Clock.now, wait=wait)
    loop.run(0.0)
    assert times == [0.0, 2.5, 10.0, 20.0]


def test_the_event_thread_sends_when_due_and_stops():
    events = Events(0.05, 2.0)
    sent = []
    stop = threading.Event()
    loop = EventLoop(events, lambda next_beat: sent.append(events.sending()),
                     lambda after: after + 3600.0, stop)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    events.notice("cam1 offline")
    deadline = time.monotonic() + 10
    while not sent and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sent == ["cam1 offline"]
    stop.set()
    loop.wake()
    thread.join(2)
    assert not thread.is_alive()
