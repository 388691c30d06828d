"""Readings that may hang, run with a deadline.

A read of a stuck NFS or failing disk mount blocks in the kernel and cannot
be interrupted, so the reading runs on a worker thread and the caller waits
at most ``timeout``.  Each reading has one worker, started on first use and
kept (no thread per beat).  While a reading is stuck its worker is busy, and
the reading is reported unavailable at once until the stuck call returns
(node_exporter's stuck-mount rule): threads never pile up.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, TypeVar

T = TypeVar("T")


class ReadingTimeout(Exception):
    pass


class _Job:
    def __init__(self, fn: Callable):
        self.fn = fn
        self.done = threading.Event()
        self.value = None
        self.error: BaseException | None = None


class _Worker:
    def __init__(self, key: str):
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.last: _Job | None = None
        threading.Thread(target=self._run, name=f"reading {key}", daemon=True).start()

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                job.value = job.fn()
            except BaseException as exc:  # handed to the caller
                job.error = exc
            job.done.set()


class Bounded:
    def __init__(self) -> None:
        self._workers: dict[str, _Worker] = {}

    def call(self, key: str, fn: Callable[[], T], timeout: float) -> T:
        worker = self._workers.get(key)
        if worker is None:
            worker = self._workers[key] = _Worker(key)
        if worker.last is not None and not worker.last.done.is_set():
            raise ReadingTimeout(f"still stuck after more than {timeout:g}s")
        job = worker.last = _Job(fn)
        worker.jobs.put(job)
        if not job.done.wait(timeout):
            raise ReadingTimeout(f"no answer within {timeout:g}s")
        if job.error is not None:
            raise job.error
        return job.value
