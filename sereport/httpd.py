"""Serving a small WSGI app over HTTP/1.1 with waitress, on a thread of its own.

The local API (``service/api.py``) and ``sereport receive`` (``receiver/service.py``)
both stand on this; it imports nothing of the agent, and waitress only loads
when one of them starts.  What it adds to waitress:

- **Bounds.** A fixed pool of worker threads, at most ``connection_limit``
  open connections (more wait in the listen backlog), a connection closed after
  ``idle_timeout`` seconds of quiet, and a request that is still arriving
  ``idle_timeout`` seconds after its first byte closed too, however slowly it
  trickles in.  Request line and headers are bounded, and so is the body,
  de-chunked by waitress when it comes chunked.
- **Strict framing.** waitress refuses a bad ``Content-Length`` (``-1``,
  ``2_5``, two different ones) and a space before a header's colon; this also
  refuses a header folded onto the next line (obs-fold), ``Transfer-Encoding``
  together with ``Content-Length`` or in an HTTP/1.0 request, and versions
  other than HTTP/1.0 and 1.1.  Each gets its status (400, 413, 431, 501, 505)
  and the connection is closed; the body of that answer is the app's own
  error format (``error_body``).
- **No CPU when idle.** waitress's loop wakes every second; this one blocks in
  poll() until a connection comes while there is none open, and wakes once a
  second for the idle sweep only while some are.  poll(), not select(), so a
  descriptor above 1024 (the daemon raises its file limit for the probes) works.
- **Any address.** The socket is bound here: IPv4 or IPv6 (``::1``, or
  ``[::1]``), a name resolving to IPv4 first (``localhost`` is 127.0.0.1, as
  before); a port that is taken raises OSError at once.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time
from typing import Callable, Iterator

import waitress
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.task import ErrorTask
from waitress.utilities import Error

log = logging.getLogger(__name__)
REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized",
           403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
           411: "Length Required", 413: "Content Too Large", 431: "Request Header Fields Too Large",
           500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
           505: "HTTP Version Not Supported"}
SWEEP = 1  # seconds between idle sweeps while connections are open

# waitress logs every client that resets its connection, and a queue depth warning per
# request under load; what is left (the connection limit reached) is worth a line.
logging.getLogger("waitress").setLevel(logging.WARNING)
logging.getLogger("waitress.queue").setLevel(logging.ERROR)


def status_line(code: int) -> str:
    return f"{code} {REASONS.get(code, 'Unknown')}"


def url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class VersionNotSupported(Error):
    code = 505
    reason = "HTTP Version Not Supported"


class _StrictParser(HTTPRequestParser):
    """waitress's parser, refusing what it lets through (see the module's docstring)."""

    def parse_header(self, header_plus: bytes) -> None:
        if b"\r\n " in header_plus or b"\r\n\t" in header_plus:
            raise ParsingError("a header line folded onto the next (obs-fold) is not accepted")
        super().parse_header(header_plus)
        if self.version == "":
            raise ParsingError("not an HTTP request line")
        if self.chunked and "CONTENT_LENGTH" in self.headers:
            raise ParsingError("Transfer-Encoding and Content-Length together")
        if self.version == "1.0" and "TRANSFER_ENCODING" in self.headers:
            raise ParsingError("Transfer-Encoding in an HTTP/1.0 request")

    def received(self, data: bytes) -> int:
        consumed = super().received(data)
        if (self.headers_finished and self.error is None and not self.empty
                and self.version not in ("1.0", "1.1")):
            self.error = VersionNotSupported(f"HTTP/{self.version} is not spoken here; use HTTP/1.1")
            self.completed = True
        return consumed


class _ErrorTask(ErrorTask):
    """waitress's answer to a request it refused, in the app's error format."""

    def execute(self) -> None:
        error = self.request.error
        adj = self.channel.adj
        if error.code == 413:
            message = f"body over the limit of {adj.max_request_body_size - 1} bytes"
        elif error.code == 431:
            message = f"request line and headers over {adj.max_request_header_size - 1} bytes"
        elif error.code == 500:
            message = "internal error (logged)"
        else:
            message = str(error.body)
        content_type, body = self.channel.server.error_body(error.code, message)
        self.status = status_line(error.code)
        self.response_headers.append(("Content-Type", content_type))
        self.request.headers["CONNECTION"] = "close"  # else waitress adds Keep-Alive for 1.0
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _Channel(HTTPChannel):
    parser_class = _StrictParser
    error_task_class = _ErrorTask
    request_began = 0.0

    def handle_read(self) -> None:
        if self.request is None:  # no request under way: whatever arrives now begins one
            self.request_began = time.time()
        super().handle_read()
        # A request still arriving idle_timeout after its first byte (a client sending a
        # byte now and then keeps the connection from ever being idle): close it.
        if (self.request is not None and not self.requests
                and time.time() - self.request_began > self.adj.channel_timeout):
            self.will_close = True


@contextlib.contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    """Threads started within inherit a mask without the stop and reload signals, so
    the kernel delivers those to the main thread, where Python runs their handlers at
    once, even while it is blocked waiting."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:
        yield
        return
    before = mask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, before)


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    """A socket bound to host:port, IPv4 addresses of a name first; OSError if none binds."""
    host = host.strip("[]")
    try:
        found = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM,
                                   socket.IPPROTO_TCP, socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OSError(exc.errno, exc.strerror) from None
    found.sort(key=lambda info: info[0] != socket.AF_INET)
    error: OSError | None = None
    for family, kind, proto, _name, address in found:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(backlog)
            return sock
        except OSError as exc:
            sock.close()
            error = error or exc
    raise error or OSError(f"no address for {host}")


class HttpServer:
    """``app`` served on host:port from start() to stop().

    ``error_body(status, message) -> (content type, body)`` makes the body of the
    answers waitress gives itself (malformed requests, too large, ...).
    """

    def __init__(self, app: Callable, host: str, port: int, *, name: str,
                 error_body: Callable[[int, str], tuple[str, bytes]],
                 threads: int = 4, connection_limit: int = 100, idle_timeout: int = 10,
                 max_header: int = 8 * 1024, max_body: int = 64 * 1024, backlog: int = 1024):
        sock = _listen(host, port, backlog)
        try:
            with _stop_signals_blocked():  # the worker threads start here
                self.server = waitress.create_server(
                    app, sockets=[sock], threads=threads,
                    # waitress counts its listening socket and its wake-up pipe as connections
                    connection_limit=connection_limit + 2,
                    channel_timeout=idle_timeout, cleanup_interval=SWEEP,
                    max_request_header_size=max_header + 1, max_request_body_size=max_body + 1,
                    ident=name, clear_untrusted_proxy_headers=True, expose_tracebacks=False,
                    log_socket_errors=False, asyncore_use_poll=True, backlog=backlog)
        except BaseException:
            sock.close()
            raise
        self.server.channel_class = _Channel
        self.server.error_body = error_body
        self.name = name
        self.host = host.strip("[]")
        self.port = sock.getsockname()[1]
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return url(self.host, self.port)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        with _stop_signals_blocked():
            self._thread.start()

    def _loop(self) -> None:
        connections = self.server._map  # the listening socket, the wake-up pipe, the clients
        try:
            while not self._stopping:
                wasyncore.poll2(None if len(connections) <= 2 else SWEEP, connections)
        except Exception:  # noqa: BLE001 - the server is lost; its owner goes on without it
            log.exception("%s: HTTP server stopped", self.name)
        finally:
            wasyncore.close_all(connections, ignore_all=True)  # a worker writing to one stops
            self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)

    def stop(self) -> None:
        """Close the listening socket and every connection; the port is free on return."""
        self._stopping = True
        if self._thread is None:  # never started
            wasyncore.close_all(self.server._map, ignore_all=True)
            self.server.task_dispatcher.shutdown(timeout=1)
            return
        try:
            self.server.pull_trigger()  # wakes the poll
        except OSError:
            pass
        self._thread.join(3)
