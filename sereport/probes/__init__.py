"""Liveness probes, one module per kind; the module name is the probe name.

Each module has ``probe(device, settings)``, a generator run by
``engine`` that returns an Outcome.  ``run_all`` probes many devices at
once, each within the probe timeout, and turns every failure into an
Outcome with a short reason; exception texts are never passed on, since
they can carry a URL with its credentials.  The helpers below are the
probes' sockets: connect, write, read an HTTP-like head, skip a body.
"""

from __future__ import annotations

import errno
import importlib
import os
import socket
import sys
import time
from dataclasses import dataclass
from typing import Protocol

from sereport import __version__
from sereport.probes import engine
from sereport.probes.engine import WRITE
from sereport.probes.stream import ProbeError, Stream

USER_AGENT = f"sereport/{__version__}"
MAX_HEAD = 64 * 1024
# Reasons a probe gives, for logs, the status file and the local API.
REASONS = ("ok", "timeout", "refused", "auth_failed", "not_found", "error_status", "tls_error",
           "unreachable", "reset", "bad_response", "missing_file", "not_a_file", "unreadable",
           "empty_file", "no_recent_picture", "static", "describe_timeout", "error")
RESOLVER = engine.Workers("resolve")


class Target(Protocol):
    """What a probe knows of a device (a ``devices.records.Device`` is one)."""

    id: str
    url: str
    ip: str
    type: str
    probe_kind: str  # which probe module
    probe_port: int  # 0: the probe's default
    username: str
    password: str
    status: str


@dataclass(frozen=True)
class Settings:
    timeout: float = 3.0
    connect_timeout: float = 2.0
    photo_port: int = 80
    photo_dir: str = "/run/sereport/photo-seen"
    photo_fresh: float = 60.0
    kept: object = None  # a kept.Kept: connections kept between cycles (None: none are)


@dataclass(frozen=True)
class Outcome:
    ok: bool  # the device answered: it is up
    reason: str  # one of REASONS
    detail: str = ""  # for people: "RTSP 401", "no connection within 2s"


def host_text(host: str) -> str:
    """host as a URI, a Host header or a SIP header writes it: an IPv6 literal in brackets
    (without its zone, "%eth0", which means nothing to the peer), anything else as it is."""
    host = unbracket(host)
    return f"[{host.split('%', 1)[0]}]" if ":" in host else host


def host_port(host: str, port: int) -> str:
    """'host:port' as written in a URI or a Host header: '[::1]:80', '10.0.0.5:80'."""
    return f"{host_text(host)}:{port}"


def unbracket(host: str) -> str:
    """'[::1]' -> '::1': a device's ip may be written either way."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def address(host: str, port: int, until: float):
    """(family, sockaddr) of host: an IP at once, a name looked up in a worker thread."""
    host = unbracket(host)
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return family, (host, port)
    found = yield from RESOLVER.call(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM,
                                     until=until)
    if not found:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    return found[0][0], found[0][4]


def connect(host: str, port: int, settings: Settings, tls=None):
    """A Stream to host:port within the connect timeout (TLS handshake included)."""
    host = unbracket(host)
    limit = min(settings.connect_timeout, settings.timeout)
    until = time.monotonic() + limit
    try:
        family, addr = yield from address(host, port, until)
    except TimeoutError:
        raise ProbeError("timeout", f"no address for the host within {limit:g}s") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        err = sock.connect_ex(addr)
        if err == errno.EINPROGRESS:
            if not (yield sock, WRITE, until):
                raise ProbeError("timeout", f"no connection within {limit:g}s")
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))
        if tls is not None:
            from sereport.probes import tls as tls_stream

            return (yield from tls_stream.handshake(sock, tls, host, until, limit))
        return Stream(sock)
    except BaseException:
        sock.close()
        raise


def read_head(stream: Stream) -> tuple[str, dict[str, list[str]]]:
    """The status line and headers (lower-case names) of an HTTP-like answer."""
    buffer = stream.buffer
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        if len(buffer) > MAX_HEAD:
            raise ProbeError("bad_response", f"answer head over {MAX_HEAD} bytes")
        chunk = yield from stream.recv()
        if not chunk:
            raise ProbeError("bad_response", "answer cut short" if buffer
                             else "connection closed without an answer")
        buffer += chunk
    lines = buffer[:end].decode("latin-1").split("\r\n")
    del buffer[:end + 4]
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0], headers


def skip_body(stream: Stream, headers: dict[str, list[str]], cap: int = 64 * 1024):
    """Read the body the headers announce (at most ``cap`` bytes)."""
    try:
        length = min(int(headers.get("content-length", ["0"])[0]), cap)
    except ValueError:
        raise ProbeError("bad_response", "Content-Length is not a number") from None
    buffer = stream.buffer
    while len(buffer) < length:
        chunk = yield from stream.recv()
        if not chunk:
            raise ProbeError("bad_response", "answer cut short")
        buffer += chunk
    body = bytes(buffer[:max(length, 0)])
    del buffer[:max(length, 0)]
    return body


def status_code(line: str, protocol: str) -> int:
    """The code of 'PROTO/x.y NNN text', or ProbeError."""
    parts = line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith(protocol + "/") or not parts[1].isdigit():
        raise ProbeError("bad_response", f"not an {protocol} answer")
    return int(parts[1])


_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN,
                errno.EADDRNOTAVAIL}


def outcome_of(exc: BaseException, settings: Settings) -> Outcome:
    """The Outcome for a probe that raised."""
    if isinstance(exc, ProbeError):
        return Outcome(False, exc.reason, exc.detail)
    if isinstance(exc, TimeoutError):
        return Outcome(False, "timeout", f"no answer within {settings.timeout:g}s")
    ssl = sys.modules.get("ssl")  # loaded only if a probe used TLS
    if ssl is not None and isinstance(exc, ssl.SSLError):
        return Outcome(False, "tls_error", getattr(exc, "reason", None) or "TLS handshake failed")
    if isinstance(exc, ConnectionRefusedError):
        return Outcome(False, "refused", "connection refused")
    if isinstance(exc, socket.gaierror):
        return Outcome(False, "unreachable", "host name not found")
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return Outcome(False, "reset", "connection reset")
    if isinstance(exc, OSError):
        if exc.errno in _UNREACHABLE:
            return Outcome(False, "unreachable", exc.strerror or "unreachable")
        return Outcome(False, "error", exc.strerror or type(exc).__name__)
    return Outcome(False, "error", type(exc).__name__)


def module(kind: str):
    return importlib.import_module(f"{__name__}.{kind}")


def _static(device: Target):
    return Outcome(device.status == "online", "static", "status set in the device record")
    yield  # a generator, like the probes


def start(device: Target, settings: Settings):
    """The probe generator for one device."""
    kind = device.probe_kind
    if kind == "none":
        return _static(device)
    return module(kind).probe(device, settings)


def run_all(devices, settings: Settings, concurrency: int) -> list[tuple[Target, Outcome, float]]:
    """Probe every device at once, each within settings.timeout; never raises.

    [(device, outcome, seconds)], in the order the probes ended.
    """
    jobs = ((device, start(device, settings)) for device in devices)
    return [(device, result if isinstance(result, Outcome) else outcome_of(result, settings),
             seconds)
            for device, result, seconds in engine.run(jobs, concurrency, settings.timeout)]


def run(device: Target, settings: Settings) -> Outcome:
    """Probe one device."""
    return run_all([device], settings, 1)[0][1]
