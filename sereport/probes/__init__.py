"""Liveness probes, one module per kind; the module name is the probe name.

Each module has ``async def probe(device, settings) -> Outcome``.  ``run``
puts the hard deadline around it and turns every failure into an Outcome
with a short reason; exception texts are never passed on, since they can
carry a URL with its credentials.
"""

from __future__ import annotations

import asyncio
import errno
import importlib
import socket
import ssl
from dataclasses import dataclass

from sereport import __version__
from sereport.devices import Device

USER_AGENT = f"sereport/{__version__}"
MAX_HEAD = 16 * 1024
# Reasons a probe gives, for logs, the status file and the local API.
REASONS = ("ok", "timeout", "refused", "auth_failed", "not_found", "error_status", "tls_error",
           "unreachable", "reset", "bad_response", "missing_file", "not_a_file", "unreadable",
           "empty_file", "no_recent_picture", "static", "error")


@dataclass(frozen=True)
class Settings:
    timeout: float = 3.0
    connect_timeout: float = 2.0
    photo_port: int = 80
    photo_dir: str = "/run/sereport/photo-seen"
    photo_fresh: float = 60.0


@dataclass(frozen=True)
class Outcome:
    ok: bool  # the device answered: it is up
    reason: str  # one of REASONS
    detail: str = ""  # for people: "RTSP 401", "no connection within 2s"


class ProbeError(Exception):
    """A failure a probe module names itself: (reason, detail)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


async def connect(host: str, port: int, settings: Settings, tls: ssl.SSLContext | None = None):
    """open_connection with the connect timeout (TLS handshake included)."""
    try:
        async with asyncio.timeout(settings.connect_timeout):  # no extra task, unlike wait_for
            return await asyncio.open_connection(host, port, ssl=tls, limit=MAX_HEAD * 4,
                                                 server_hostname=host if tls else None)
    except TimeoutError:
        raise ProbeError("timeout", f"no connection within {settings.connect_timeout:g}s") from None


def close(writer: asyncio.StreamWriter) -> None:
    """Drop the connection now; a peer that hangs must not hold us up."""
    writer.transport.abort()


async def read_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, list[str]]]:
    """The status line and headers (lower-case names) of an HTTP-like answer."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise ProbeError("bad_response", "connection closed without an answer") from None
        raise ProbeError("bad_response", "answer cut short") from None
    except asyncio.LimitOverrunError:
        raise ProbeError("bad_response", f"answer head over {MAX_HEAD * 4} bytes") from None
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0], headers


async def skip_body(reader: asyncio.StreamReader, headers: dict[str, list[str]],
                    cap: int = 64 * 1024) -> bytes:
    """Read the body the headers announce (at most ``cap`` bytes)."""
    try:
        length = int(headers.get("content-length", ["0"])[0])
    except ValueError:
        raise ProbeError("bad_response", "Content-Length is not a number") from None
    if length <= 0:
        return b""
    return await reader.readexactly(min(length, cap))


def status_code(line: str, protocol: str) -> int:
    """The code of 'PROTO/x.y NNN text', or ProbeError."""
    parts = line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith(protocol + "/") or not parts[1].isdigit():
        raise ProbeError("bad_response", f"not an {protocol} answer")
    return int(parts[1])


_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN,
                errno.EADDRNOTAVAIL}


def _outcome_of(exc: BaseException, settings: Settings) -> Outcome:
    if isinstance(exc, ProbeError):
        return Outcome(False, exc.reason, exc.detail)
    if isinstance(exc, TimeoutError):
        return Outcome(False, "timeout", f"no answer within {settings.timeout:g}s")
    if isinstance(exc, ssl.SSLError):
        return Outcome(False, "tls_error", getattr(exc, "reason", None) or "TLS handshake failed")
    if isinstance(exc, ConnectionRefusedError):
        return Outcome(False, "refused", "connection refused")
    if isinstance(exc, socket.gaierror):
        return Outcome(False, "unreachable", "host name not found")
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return Outcome(False, "reset", "connection reset")
    if isinstance(exc, asyncio.IncompleteReadError):
        return Outcome(False, "bad_response", "answer cut short")
    if isinstance(exc, OSError):
        if exc.errno in _UNREACHABLE:
            return Outcome(False, "unreachable", exc.strerror or "unreachable")
        return Outcome(False, "error", exc.strerror or type(exc).__name__)
    return Outcome(False, "error", type(exc).__name__)


def module(kind: str):
    return importlib.import_module(f"{__name__}.{kind}")


async def run(device: Device, settings: Settings) -> Outcome:
    """Probe one device within settings.timeout; never raises."""
    kind = device.probe_kind
    if kind == "none":
        return Outcome(device.status == "online", "static", "status set in the device record")
    try:
        async with asyncio.timeout(settings.timeout):
            return await module(kind).probe(device, settings)
    except Exception as exc:  # every failure is an outcome
        return _outcome_of(exc, settings)
