"""Connections kept open from one probe cycle to the next.

An RTSP probe that ends well leaves its control connection here; the next
cycle asks the camera on it again instead of connecting anew.  That is the
cost of a probe halved (no handshake, no close: half the packets and
syscalls), one slot fewer churned on a camera that allows few clients, and
no TIME_WAIT sockets piling up on the box.  A connection is taken only if
it is still open and silent; a probe that fails on one connects afresh.
"""

from __future__ import annotations

import socket
import threading

_PEEK = int(socket.MSG_PEEK | socket.MSG_DONTWAIT)


class Kept:
    def __init__(self, limit: int):
        self.limit = limit  # at most this many open at once (file descriptors)
        self._items: dict[tuple, object] = {}  # key (device id first) -> the probe's session
        self._lock = threading.Lock()
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def take(self, key: tuple):
        """The session kept under key, if its connection is still open and silent."""
        with self._lock:
            item = self._items.pop(key, None)
        if item is None:
            return None
        try:
            item.stream.sock.recv(1, _PEEK)
        except BlockingIOError:
            return item  # nothing to read: open and idle
        except OSError:
            pass
        item.stream.close()  # closed by the peer, or it said something unasked
        return None

    def keep(self, key: tuple, item) -> bool:
        """Keep item (with a .stream) for the next cycle; False when it was not kept."""
        with self._lock:
            if self._closed or len(self._items) >= self.limit or key in self._items:
                return False
            self._items[key] = item
            return True

    def retain(self, device_ids: set[str]) -> None:
        """Close the connections of devices that are gone."""
        with self._lock:
            gone = [key for key in self._items if key[0] not in device_ids]
            items = [self._items.pop(key) for key in gone]
        for item in items:
            item.stream.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            items = list(self._items.values())
            self._items.clear()
        for item in items:
            item.stream.close()
