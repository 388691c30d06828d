"""Readings that may hang, run with a deadline.

A read of a stuck NFS or failing disk mount blocks in the kernel and cannot
be interrupted, so the reading runs on a worker thread and the caller waits
at most ``timeout``.  While a reading is stuck its worker is busy, and the
reading is reported unavailable at once until the stuck call returns
(node_exporter's stuck-mount rule): threads never pile up.

The workers are shared by every reading, not one per reading: the beat reads
one thing at a time, so one idle worker serves them all, and a reading that
hangs keeps only its own worker (the next reading starts another).  A thread
per reading, kept for ever, cost about 90 KiB of RSS each (stack, and a C heap
arena of its own) for files most of which are read once (versions, serial
number), and a box with the vitals extensions has a dozen readings.  No
thread is started per beat: a worker goes back to the idle ones before it
says its reading is done, so the next reading finds it there; only workers
beyond ``IDLE_WORKERS`` end (after a stuck reading came back).
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, TypeVar

T = TypeVar("T")
IDLE_WORKERS = 1  # kept waiting for the next reading; more end when their reading is done


class ReadingTimeout(Exception):
    pass


class _Job:
    __slots__ = ("fn", "done", "value", "error")

    def __init__(self, fn: Callable):
        self.fn = fn
        self.done = threading.Event()
        self.value = None
        self.error: BaseException | None = None


class _Worker:
    def __init__(self, owner: Bounded):
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        threading.Thread(target=self._run, args=(owner,), name="reading", daemon=True).start()

    def _run(self, owner: Bounded) -> None:
        while True:
            job = self.jobs.get()
            try:
                job.value = job.fn()
            except BaseException as exc:  # handed to the caller
                job.error = exc
            job.fn = None  # what it closes over is not kept until the next reading
            idle = owner._rest(self)  # before done: the caller's next reading finds it idle
            job.done.set()
            if not idle:
                return


class Bounded:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._last: dict[str, threading.Event] = {}  # key -> its latest job's "done"

    def _rest(self, worker: _Worker) -> bool:
        """Take ``worker`` back among the idle ones; False when there are enough (it ends)."""
        with self._lock:
            if len(self._idle) >= IDLE_WORKERS:
                return False
            self._idle.append(worker)
            return True

    def call(self, key: str, fn: Callable[[], T], timeout: float) -> T:
        last = self._last.get(key)
        if last is not None and not last.is_set():
            raise ReadingTimeout(f"still stuck after more than {timeout:g}s")
        job = _Job(fn)
        self._last[key] = job.done
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is None:
            worker = _Worker(self)
        worker.jobs.put(job)
        if not job.done.wait(timeout):
            raise ReadingTimeout(f"no answer within {timeout:g}s")
        if job.error is not None:
            raise job.error
        return job.value
