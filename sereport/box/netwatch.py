"""Knowing that the box's addresses and routes have not changed, without reading them.

The gateway's IP and MAC come from the list of interfaces and the default
route (``system.py``): a netlink dump of every address and ``/proc/net/route``
parsed, more CPU per beat than every other reading together.  They change
seldom (a DHCP lease, a cable, an operator), and the kernel says when: a
NETLINK_ROUTE socket joined to the link, IPv4 address and IPv4 route groups
receives a message at each such change.  So the gateway keeps its last
reading until a message comes.  The messages are drained, never parsed.

Anything in doubt means "changed", read again: no socket (no netlink, a
sandbox without AF_NETLINK), a full socket buffer (ENOBUFS: messages were
lost), more messages than one look drains.  The look comes before the
reading, so a change during the reading leaves its message for the next.
"""

from __future__ import annotations

import errno
import socket

NETLINK_ROUTE = 0
GROUPS = 0x1 | 0x10 | 0x40  # RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE
MAX_DRAIN = 256  # messages read in one look; more: changed all the same, the rest next time


class NetWatch:
    def __init__(self) -> None:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        except (OSError, AttributeError):  # not Linux, or netlink refused
            self._sock = None
            return
        try:
            sock.setblocking(False)
            sock.bind((0, GROUPS))
        except OSError:
            sock.close()
            sock = None
        self._sock = sock

    @property
    def watching(self) -> bool:
        return self._sock is not None

    def changed(self) -> bool:
        """Whether the network may have changed since the last look (always, unwatched)."""
        if self._sock is None:
            return True
        changed = False
        for _ in range(MAX_DRAIN):
            try:
                if not self._sock.recv(65536):
                    return True
                changed = True
            except BlockingIOError:
                return changed
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:  # the socket broke: stop watching
                    self.close()
                    return True
                changed = True
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
