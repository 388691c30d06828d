"""sip: a GB28181 device answers SIP OPTIONS over UDP.

Sent to the device's IP, port probe_port, else the URL's port, else 5060;
resent every 0.5 s (UDP loses packets) until the deadline.  Any SIP
response with our Call-ID means the device is up; an ICMP port-unreachable
is a refusal.
"""

from __future__ import annotations

import os
import socket
import time
from urllib.parse import urlsplit

from sereport.probes import USER_AGENT, Outcome, ProbeError, Settings, address
from sereport.probes.engine import READ

RESEND = 0.5


def target(device) -> tuple[str, int, str]:
    """(host, port, user) for the OPTIONS request."""
    try:
        parts = urlsplit(device.url)
        url_port = parts.port if parts.hostname == device.ip else None
        user = parts.username or ""
    except ValueError:
        url_port, user = None, ""
    return device.ip, device.probe_port or url_port or 5060, user


def request(host: str, port: int, user: str, local: tuple[str, int], call_id: str, tag: str) -> bytes:
    uri = f"sip:{user}@{host}:{port}" if user else f"sip:{host}:{port}"
    me = f"{local[0]}:{local[1]}"
    return ("\r\n".join([
        f"OPTIONS {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {me};rport;branch=z9hG4bK{os.urandom(6).hex()}",
        "Max-Forwards: 70",
        f"From: <sip:sereport@{local[0]}>;tag={tag}",
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
