"""sip: a GB28181 device answers SIP OPTIONS over UDP.

Sent to the device's IP, port probe_port, else the URL's port, else 5060;
resent every 0.5 s (UDP loses packets) until the deadline.  Any SIP
response with our Call-ID means the device is up; an ICMP port-unreachable
is a refusal.  IPv6 addresses are bracketed wherever the request writes a
host (request URI, Via, From, To, Contact), as RFC 3261 wants and SIP
servers insist: ``OPTIONS sip:user@[::1]:5060 SIP/2.0``.
"""

from __future__ import annotations

import os
import socket
import time
from urllib.parse import urlsplit

from sereport.probes import (USER_AGENT, Outcome, ProbeError, Settings, address, host_port,
                             host_text, unbracket)
from sereport.probes.engine import READ

RESEND = 0.5


def target(device) -> tuple[str, int, str]:
    """(host, port, user) for the OPTIONS request."""
    try:
        parts = urlsplit(device.url)
        url_port = parts.port if _same_host(parts.hostname or "", device.ip) else None
        user = parts.username or ""
    except ValueError:
        url_port, user = None, ""
    return device.ip, device.probe_port or url_port or 5060, user


def _same_host(a: str, b: str) -> bool:
    """Whether two hosts are the same: IP addresses compared as addresses ('::1' is '0::1')."""
    a, b = unbracket(a), unbracket(b)
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_pton(family, a) == socket.inet_pton(family, b)
        except (OSError, ValueError):
            continue
    return a.lower() == b.lower()


def request(host: str, port: int, user: str, local: tuple[str, int], call_id: str, tag: str) -> bytes:
    where = host_port(host, port)
    uri = f"sip:{user}@{where}" if user else f"sip:{where}"
    me = host_port(local[0], local[1])
    return ("\r\n".join([
        f"OPTIONS {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {me};rport;branch=z9hG4bK{os.urandom(6).hex()}",
        "Max-Forwards: 70",
        f"From: <sip:sereport@{host_text(local[0])}>;tag={tag}",
        f"To: <{uri}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        f"Contact: <sip:sereport@{me}>",
        "Accept: application/sdp",
        f"User-Agent: {USER_AGENT}",
        "Content-Length: 0",
    ]) + "\r\n\r\n").encode("utf-8")


def answer_line(data: bytes, call_id: str) -> str | None:
    """The status line of a SIP response to our request, None for anything else."""
    text = data.decode("utf-8", errors="replace")
    if text.startswith("SIP/2.0 ") and call_id in text:
        return text.split("\r\n", 1)[0]
    return None


def probe(device, settings: Settings):
    host, port, user = target(device)
    family, addr = yield from address(host, port, time.monotonic() + settings.connect_timeout)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect(addr)  # UDP: no packet; an ICMP refusal now shows in send/recv
        call_id = f"{os.urandom(8).hex()}@sereport"
        message = request(host, port, user, sock.getsockname()[:2], call_id, os.urandom(4).hex())
        while True:
            sock.send(message)
            resend_at = time.monotonic() + RESEND
            while (yield sock, READ, resend_at):
                try:
                    line = answer_line(sock.recv(65536), call_id)
                except BlockingIOError:
                    continue
                if line is not None:
                    parts = line.split(" ", 2)
                    if len(parts) < 2 or not parts[1].isdigit():
                        raise ProbeError("bad_response", "not a SIP answer")
                    return Outcome(True, "ok", f"SIP {parts[1]}")
    finally:
        sock.close()
