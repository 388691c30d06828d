"""Test guard: no traffic leaves loopback.

Imported by every Python process the tests start (PYTHONPATH points here)
and by the test process itself (conftest).  Any connect or sendto to an
address outside 127.0.0.0/8 and ::1 raises instead of sending a packet.
"""

from __future__ import annotations

import ipaddress
import socket


def _refuse_off_loopback(address):
    if not isinstance(address, tuple):
        return  # AF_UNIX
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


if not getattr(socket, "_sereport_guard", False):
    _guard("connect", 0)
    _guard("connect_ex", 0)
    _guard("sendto", 1)  # sendto(data, address) or sendto(data, flags, address)
    socket._sereport_guard = True
