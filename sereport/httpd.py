"""Serving a small WSGI app over HTTP/1.1 with waitress, on a thread of its own.

The local API (``service/api.py``) and ``sereport receive`` (``receiver/service.py``)
both stand on this; it imports nothing of the agent.  The socket is bound at
once (a taken port is an error at start), and waitress (httpd_waitress.py)
is loaded at the first connection: until then one thread waits in poll() on
the listening socket, and the 2.6 MiB that waitress and its worker threads
cost are not spent by a daemon whose API nobody calls.  What it adds to
waitress:

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
- **A graceful stop.** ``stop(grace)`` takes no new connection and gives the answers
  under way (a request being served, an answer not yet sent) up to ``grace`` seconds.
- **Any address.** The socket is bound here: IPv4 or IPv6 (``::1``, or
  ``[::1]``), a name resolving to IPv4 first (``localhost`` is 127.0.0.1, as
  before); a port that is taken raises OSError at once.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
from typing import Callable

from sereport.sigmask import stop_signals_blocked

log = logging.getLogger(__name__)
REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized",
           403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
           411: "Length Required", 413: "Content Too Large", 431: "Request Header Fields Too Large",
           500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
           505: "HTTP Version Not Supported"}
SWEEP = 1  # seconds between idle sweeps while connections are open


def status_line(code: int) -> str:
    return f"{code} {REASONS.get(code, 'Unknown')}"


def url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


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
        self.socket = _listen(host, port, backlog)
        self._app = app
        self._settings = dict(name=name, error_body=error_body, threads=threads,
                              connection_limit=connection_limit, idle_timeout=idle_timeout,
                              max_header=max_header, max_body=max_body, backlog=backlog,
                              status_line=status_line, sweep=SWEEP)
        self.server = None  # waitress's, made at the first connection
        self.name = name
        self.host = host.strip("[]")
        self.port = self.socket.getsockname()[1]
        self._stopping = False
        self._grace = 0.0  # seconds stop() gives answers under way
        self._lock = threading.Lock()  # stop() against the server's making
        self._wake_r, self._wake_w = os.pipe()
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return url(self.host, self.port)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        with stop_signals_blocked():  # the worker threads it starts inherit the mask
            self._thread.start()

    def _first_connection(self) -> bool:
        """Wait for a connection (True) or stop (False)."""
        poll = select.poll()
        poll.register(self.socket, select.POLLIN)
        poll.register(self._wake_r, select.POLLIN)
        while not self._stopping:
            if any(fd == self.socket.fileno() for fd, _ in poll.poll()):
                return not self._stopping
        return False

    def _loop(self) -> None:
        try:
            if not self._first_connection():
                return
            from sereport import httpd_waitress

            with self._lock:
                if self._stopping:
                    return
                self.server = httpd_waitress.create(self._app, self.socket, **self._settings)
            httpd_waitress.serve(self.server, lambda: self._stopping, lambda: self._grace)
        except Exception:  # noqa: BLE001 - the server is lost; its owner goes on without it
            log.exception("%s: HTTP server stopped", self.name)
        finally:
            self._close()

    def _close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.socket.close()
            os.close(self._wake_r)
            os.close(self._wake_w)

    def stop(self, grace: float = 0.0) -> None:
        """Close the listening socket and every connection; the port is free on return.
        With ``grace``, answers under way get up to that many seconds to go out first."""
        with self._lock:
            self._grace = grace
            self._stopping = True
            server = self.server
            if not self._closed:
                os.write(self._wake_w, b".")  # wakes the wait for the first connection
        if self._thread is None:  # never started
            self._close()
            return
        if server is not None:
            try:
                server.pull_trigger()  # wakes waitress's poll
            except OSError:
                pass
        self._thread.join(3 + grace)
