"""Test guard: no traffic leaves loopback.

Imported by every Python process the tests start (PYTHONPATH points here)
and by the test process itself (conftest).  Any connect or sendto to an
address outside 127.0.0.0/8 and ::1 raises instead of sending a packet, except in
a process inside a network namespace of its own (the ONVIF discovery tests make
one, joined to nothing but other namespaces they make: no packet can leave it).
"""

from __future__ import annotations

import ipaddress
import os
import socket


NAMESPACES = "/run/netns"
PREFIX = "sereport-test-"  # tests/netns.py names its namespaces so


def _in_test_network_namespace() -> bool:
    """Whether this process runs in a network namespace tests/netns.py made."""
    try:
        own = os.stat("/proc/self/ns/net")
        names = [n for n in os.listdir(NAMESPACES) if n.startswith(PREFIX)]
    except OSError:
        return False
    for name in names:
        try:
            st = os.stat(os.path.join(NAMESPACES, name))
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino):
            return True
    return False


def _refuse_off_loopback(address):
    if not isinstance(address, tuple) or _ISOLATED:
        return  # AF_UNIX, or no way out of this namespace
    host = str(address[0]).split("%")[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return
    ip = getattr(ip, "ipv4_mapped", None) or ip
    if not (ip.is_loopback or ip.is_unspecified):
        raise PermissionError(f"test guard: traffic to {host} is not allowed, only loopback")


def _guard(name, address_index):
    original = getattr(socket.socket, name)

    def guarded(self, *args):
        if len(args) > address_index:
            _refuse_off_loopback(args[-1] if name == "sendto" else args[address_index])
        return original(self, *args)

    guarded.__name__ = name
    setattr(socket.socket, name, guarded)


_ISOLATED = _in_test_network_namespace()

if not getattr(socket, "_sereport_guard", False):
    _guard("connect", 0)
    _guard("connect_ex", 0)
    _guard("sendto", 1)  # sendto(data, address) or sendto(data, flags, address)
    socket._sereport_guard = True
