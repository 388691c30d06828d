"""sip: a GB28181 device answers SIP OPTIONS over UDP.

Sent to the device's IP, port probe_port, else the URL's port, else 5060;
resent every 0.5 s (UDP loses packets) until the deadline.  Any SIP
response with our Call-ID means the device is up; an ICMP port-unreachable
is a refusal.
"""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlsplit

from sereport.probes import USER_AGENT, Outcome, ProbeError, Settings

RESEND = 0.5


class _Client(asyncio.DatagramProtocol):
    def __init__(self, call_id: str):
        self.call_id = call_id
        self.answer: asyncio.Future = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr) -> None:
        text = data.decode("utf-8", errors="replace")
        if (text.startswith("SIP/2.0 ") and self.call_id in text
                and not self.answer.done()):
            self.answer.set_result(text.split("\r\n", 1)[0])

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


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


async def probe(device, settings: Settings) -> Outcome:
    host, port, user = target(device)
    call_id = f"{os.urandom(8).hex()}@sereport"
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(
        lambda: _Client(call_id), remote_addr=(host, port))
    try:
        message = request(host, port, user, transport.get_extra_info("sockname")[:2],
                          call_id, os.urandom(4).hex())
        while True:
            transport.sendto(message)
            done, _ = await asyncio.wait({client.answer}, timeout=RESEND)
            if done:
                line = client.answer.result()
                parts = line.split(" ", 2)
                if len(parts) < 2 or not parts[1].isdigit():
                    raise ProbeError("bad_response", "not a SIP answer")
                return Outcome(True, "ok", f"SIP {parts[1]}")
    finally:
        transport.close()
