"""Readings that may hang, run with a deadline.

A read of a stuck NFS or failing disk mount blocks in the kernel and cannot
be interrupted, so the reading runs in a worker thread and the caller waits
at most ``timeout``.  A worker still stuck from an earlier call is not
joined by another one (node_exporter's stuck-mount rule): the reading is
reported unavailable until the stuck call returns, so threads never pile up.
"""

from __future__ import annotations

import threading
from typing import Callable, TypeVar

T = TypeVar("T")


class ReadingTimeout(Exception):
    pass


class Bounded:
    def __init__(self) -> None:
        self._stuck: dict[str, threading.Thread] = {}

    def call(self, key: str, fn: Callable[[], T], timeout: float) -> T:
        stuck = self._stuck.get(key)
        if stuck is not None:
            if stuck.is_alive():
                raise ReadingTimeout(f"still stuck after more than {timeout:g}s")
            del self._stuck[key]
        box: dict = {}

        def work() -> None:
            try:
                box["value"] = fn()
            except BaseException as exc:  # handed to the caller below
                box["error"] = exc

        worker = threading.Thread(target=work, name=f"reading {key}", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            self._stuck[key] = worker
            raise ReadingTimeout(f"no answer within {timeout:g}s")
        if "error" in box:
            raise box["error"]
        return box["value"]
