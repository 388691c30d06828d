"""The probe loop: probes are generators over non-blocking sockets.

A probe yields ``(fileobj, events, until)``: wait until ``fileobj`` (a
socket or a file descriptor) is readable (READ) or writable (WRITE), or
until the monotonic time ``until`` (None: no limit of its own).  The yield
gives back True when the file is ready, False when ``until`` came first.
When the probe's own timeout passes, the loop throws TimeoutError into it
instead; a probe that goes on waiting after that is closed.  A probe
returns its result, or raises.

One epoll object serves a whole cycle, with at most ``concurrency`` probes
running, so a cycle over hundreds of dead devices ends in about one
timeout.

Why a hand-written loop here, when the rest of sereport leaves HTTP to
requests and waitress: the probe cycle is the one hot path, and it was
measured.  An asyncio version of the same 500-device cycle cost twice the
CPU (a cycle of 100 connect-per-probe probes: 23 ms against 11.7 ms; most
of asyncio's share went to streams, tasks and futures) and 5.6 MiB more
RSS, and no defect was found in this loop (tests/probes/test_engine.py
covers waits, deadlines, a probe ignoring its timeout, the concurrency cap
and the worker threads).  So it stays, small: one epoll object, a heap of
deadlines, generators.
"""

from __future__ import annotations

import heapq
import itertools
import os
import select
import time
from typing import Any, Iterable, Iterator

READ, WRITE = select.EPOLLIN, select.EPOLLOUT


class _Task:
    __slots__ = ("key", "gen", "started", "deadline", "fd", "fileobj", "events", "turn",
                 "expired")

    def __init__(self, key, gen: Iterator, timeout: float):
        self.key, self.gen = key, gen
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.fd = -1  # registered with epoll (kept between waits on the same file)
        self.fileobj = None
        self.events = 0
        self.turn = 0  # counts waits: a timer from an earlier wait is stale
        self.expired = False


class _Cycle:
    def __init__(self, timeout: float):
        self.timeout = timeout
        self.epoll = select.epoll()
        self.waiting: dict[int, _Task] = {}  # fd -> the task waiting on it
        self.timers: list = []  # (when, seq, task, turn)
        self.seq = itertools.count()
        self.running = 0
        self.results: list[tuple[Any, Any, float]] = []

    def start(self, key, gen: Iterator) -> None:
        self.running += 1
        self.step(_Task(key, gen, self.timeout), None)

    def step(self, task: _Task, value, exc: BaseException | None = None) -> None:
        try:
            wait = task.gen.throw(exc) if exc is not None else task.gen.send(value)
        except StopIteration as stop:
            return self.finish(task, stop.value)
        except Exception as error:  # noqa: BLE001 - every failure is the probe's result
            return self.finish(task, error)
        if task.expired:  # it caught the TimeoutError and wants more time
            task.gen.close()
            return self.finish(task, TimeoutError())
        fileobj, events, until = wait
        try:
            self._watch(task, fileobj, events)
        except (ValueError, OSError) as error:  # a closed file, or one another probe waits on
            task.gen.close()
            return self.finish(task, error)
        task.turn += 1
        when = task.deadline if until is None or until > task.deadline else until
        heapq.heappush(self.timers, (when, next(self.seq), task, task.turn))

    def _watch(self, task: _Task, fileobj, events: int) -> None:
        if fileobj is task.fileobj:  # the same file as the last wait: at most a modify
            if events != task.events:
                self.epoll.modify(task.fd, events)
                task.events = events
            return
        self._forget(task)  # another file: the last one may be closed already
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        if fd in self.waiting:
            raise ValueError(f"file descriptor {fd} is waited on already")
        self.epoll.register(fd, events)
        self.waiting[fd] = task
        task.fd, task.fileobj, task.events = fd, fileobj, events

    def _forget(self, task: _Task) -> None:
        if task.fd >= 0:
            del self.waiting[task.fd]
            try:
                self.epoll.unregister(task.fd)
            except OSError:
                pass  # closed by the probe: epoll dropped it by itself
            task.fd, task.fileobj, task.events = -1, None, 0

    def finish(self, task: _Task, result) -> None:
        self._forget(task)
        task.turn += 1  # its timers are stale now
        self.running -= 1
        self.results.append((task.key, result, time.monotonic() - task.started))

    def expire(self, now: float) -> None:
        timers = self.timers
        while timers and timers[0][0] <= now:
            when, _, task, turn = heapq.heappop(timers)
            if task.turn != turn:
                continue  # it was woken, or finished, before this timer
            if when >= task.deadline:
                task.expired = True
                self.step(task, None, TimeoutError())
            else:
                self.step(task, False)

    def wait(self) -> None:
        self.expire(time.monotonic())
        if not self.timers:
            return
        delay = max(0.0, self.timers[0][0] - time.monotonic())
        for fd, _events in self.epoll.poll(delay):
            task = self.waiting.get(fd)
            if task is not None and task.fd == fd:
                self.step(task, True)

    def close(self) -> None:
        for task in list(self.waiting.values()):
            task.gen.close()
        self.epoll.close()


def run(jobs: Iterable[tuple[Any, Iterator]], concurrency: int,
        timeout: float) -> list[tuple[Any, Any, float]]:
    """Run every (key, probe generator); [(key, result or exception, seconds)].

    Each probe gets ``timeout`` seconds from its start; results come in the
    order the probes ended.
    """
    cycle = _Cycle(timeout)
    pending = iter(jobs)
    try:
        while True:
            while cycle.running < concurrency:
                job = next(pending, None)
                if job is None:
                    break
                cycle.start(*job)
            if not cycle.running:
                return cycle.results
            cycle.wait()
    finally:
        cycle.close()


class Workers:
    """A few threads for blocking calls (a stat on a stuck mount, a DNS lookup).

    ``call`` is waited on like a socket; a call still running when its probe
    times out is left to finish in its thread, and holds one worker meanwhile.
    """

    def __init__(self, name: str, size: int = 4):
        self.name, self.size = name, size
        self._pool = None

    def call(self, fn, *args, until: float | None = None):
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix=self.name)
        done_r, done_w = os.pipe()
        box: list = []

        def work():
            try:
                box.append((True, fn(*args)))
            except BaseException as exc:  # noqa: BLE001 - handed to the probe
                box.append((False, exc))
            try:
                os.write(done_w, b".")
            except OSError:
                pass  # the probe has gone
            finally:
                os.close(done_w)

        try:
            self._pool.submit(work)
        except BaseException:
            os.close(done_w)
            os.close(done_r)
            raise
        try:
            if not (yield done_r, READ, until):
                raise TimeoutError
            ok, value = box[0]
            if not ok:
                raise value
            return value
        finally:
            os.close(done_r)
