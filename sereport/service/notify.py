"""The systemd notify protocol (sd_notify(3)), in the package itself.

Messages are datagrams of "KEY=value" lines sent to the AF_UNIX socket named
by $NOTIFY_SOCKET; a leading "@" names an abstract socket.  Without
$NOTIFY_SOCKET every call does nothing.  A failed send is logged once at
debug level and never raised: the service must run with or without systemd.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: dict | None = None):
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + path[1:] if path.startswith("@") else path
        self._sock: socket.socket | None = None
        self._failed = False
        self.watchdog_interval = self._watchdog(env)

    @staticmethod
    def _watchdog(env) -> float | None:
        """Seconds between WATCHDOG=1 pets (half of WatchdogSec), None when not asked."""
        try:
            usec = int(env.get("WATCHDOG_USEC", ""))
        except ValueError:
            return None
        pid = env.get("WATCHDOG_PID", "")
        if usec <= 0 or (pid and pid != str(os.getpid())):
            return None
        return usec / 2e6

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *lines: str) -> None:
        if not self.address:
            return
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.sendto("\n".join(lines).encode("utf-8"), self.address)
        except OSError as exc:
            if not self._failed:
                self._failed = True
                log.debug("cannot notify systemd: %s", exc.strerror or exc)

    def ready(self, status: str = "") -> None:
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> None:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
