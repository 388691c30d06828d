"""Threads that leave the stop and reload signals to the main thread."""

from __future__ import annotations

import contextlib
import signal
from typing import Iterator

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


@contextlib.contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """Threads started within inherit a mask without the stop and reload signals, so
    the kernel delivers those to the main thread, where Python runs their handlers at
    once, even while it is blocked waiting.  (A signal the kernel gives to another
    thread waits until the main thread next runs Python code: a second, or for ever.)"""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:
        yield
        return
    before = mask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, before)


def unblock_stop_signals() -> None:
    """Take the stop and reload signals in this thread from now on: with their handlers
    in, one left pending across an exec (``Daemon._exec_again`` blocks them from its last
    look at a stop to the exec) is handled now, not lost."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is not None:
        mask(signal.SIG_UNBLOCK, STOP_SIGNALS)
