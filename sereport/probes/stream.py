"""A probe's connection: a non-blocking socket with a read buffer, read and
written from a probe's generator on the engine's loop, and the error a
probe raises to name its own failure.  Below ``tls`` and the helpers in
``probes/__init__``, which both use it."""

from __future__ import annotations

import socket

from sereport.probes.engine import READ, WRITE

RECV = 64 * 1024


class ProbeError(Exception):
    """A failure a probe module names itself: (reason, detail)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


class Stream:
    """A connected non-blocking socket with a read buffer."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = bytearray()
        self.until: float | None = None  # a read deadline of its own, for a kept connection

    def write(self, data: bytes):
        view = memoryview(data)
        while view:
            try:
                view = view[self.sock.send(view):]
            except BlockingIOError:
                yield self.sock, WRITE, None

    def recv(self):
        """The next bytes that come, b"" at the end."""
        while True:
            if not (yield self.sock, READ, self.until):
                raise ProbeError("timeout", "no answer on the kept connection")
            try:
                return self.sock.recv(RECV)
            except BlockingIOError:
                continue

    def close(self) -> None:
        self.sock.close()
