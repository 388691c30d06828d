"""TLS for probes (rtsps): a non-blocking handshake and a Stream over it.

Loaded only when a device needs it: the ssl module is 5 MiB of RSS.
Certificates are not verified: cameras use self-signed ones, and the
question here is only "is it up".
"""

from __future__ import annotations

import ssl

from sereport.probes.stream import RECV, ProbeError, Stream
from sereport.probes.engine import READ, WRITE

_context: ssl.SSLContext | None = None


def context() -> ssl.SSLContext:
    global _context
    if _context is None:
        made = ssl.create_default_context()
        made.check_hostname = False
        made.verify_mode = ssl.CERT_NONE
        _context = made
    return _context


class TlsStream(Stream):
    def write(self, data: bytes):
        view = memoryview(data)
        while view:
            try:
                view = view[self.sock.send(view):]
            except ssl.SSLWantReadError:
                yield self.sock, READ, None
            except ssl.SSLWantWriteError:
                yield self.sock, WRITE, None

    def recv(self):
        while True:  # try first: TLS may hold bytes already decrypted
            try:
                return self.sock.recv(RECV)
            except ssl.SSLWantReadError:
                yield self.sock, READ, None
            except ssl.SSLWantWriteError:
                yield self.sock, WRITE, None
            except ssl.SSLZeroReturnError:
                return b""


def handshake(sock, tls: ssl.SSLContext, host: str, until: float, limit: float):
    """Wrap a connected socket and finish the handshake by ``until``."""
    wrapped = tls.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    try:
        while True:
            try:
                wrapped.do_handshake()
                return TlsStream(wrapped)
            except ssl.SSLWantReadError:
                events = READ
            except ssl.SSLWantWriteError:
                events = WRITE
            if not (yield wrapped, events, until):
                raise ProbeError("timeout", f"no TLS handshake within {limit:g}s")
    except BaseException:
        wrapped.close()
        raise
