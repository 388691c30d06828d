"""The waitress side of sereport.httpd: its stricter parser, its error answers in the
app's format, and a server made on a socket httpd has bound (it imports nothing of
sereport: httpd hands it what it needs).  Imported at the first
connection (waitress and its threads cost about 2.6 MiB of RSS, which a daemon whose
API nobody calls never needs).  See httpd.py for what it adds to waitress and why."""

from __future__ import annotations

import logging
import socket
import time
from typing import Callable

import waitress
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.task import ErrorTask
from waitress.utilities import Error

# waitress logs every client that resets its connection, and a queue depth warning per
# request under load; what is left (the connection limit reached) is worth a line.
logging.getLogger("waitress").setLevel(logging.WARNING)
logging.getLogger("waitress.queue").setLevel(logging.ERROR)


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
        self.status = self.channel.server.status_line(error.code)
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


def create(app: Callable, sock: socket.socket, *, name: str,
           error_body: Callable[[int, str], tuple[str, bytes]],
           status_line: Callable[[int], str], threads: int, connection_limit: int,
           idle_timeout: int, max_header: int, max_body: int, backlog: int, sweep: int):
    """A waitress server for ``app`` on the bound, listening ``sock`` (its threads start)."""
    server = waitress.create_server(
        app, sockets=[sock], threads=threads,
        # waitress counts its listening socket and its wake-up pipe as connections
        connection_limit=connection_limit + 2,
        channel_timeout=idle_timeout, cleanup_interval=sweep,
        max_request_header_size=max_header + 1, max_request_body_size=max_body + 1,
        ident=name, clear_untrusted_proxy_headers=True, expose_tracebacks=False,
        log_socket_errors=False, asyncore_use_poll=True, backlog=backlog)
    server.channel_class = _Channel
    server.error_body = error_body
    server.status_line = status_line
    server.sweep = sweep
    return server


def serve(server, stopping: Callable[[], bool], grace: Callable[[], float]) -> None:
    """Run ``server`` until ``stopping()``; then give the answers under way up to
    ``grace()`` seconds, and close every connection and its workers."""
    connections = server._map  # the listening socket, the wake-up pipe, the clients
    try:
        while not stopping():
            wasyncore.poll2(None if len(connections) <= 2 else server.sweep, connections)
        _drain(server, grace())
    finally:
        close(server)


def _drain(server, seconds: float) -> None:
    """No new connection; poll until no channel has a request being served or an answer
    not yet sent, or ``seconds`` have passed.  Idle connections are closed at once."""
    if seconds <= 0:
        return
    server.accepting = False  # waitress's server is readable only while accepting
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        busy = False
        for channel in list(server._map.values()):
            if not isinstance(channel, HTTPChannel):
                continue
            if channel.requests or channel.total_outbufs_len:
                busy = True
            elif channel.request is None:  # between requests: nothing under way
                channel.handle_close()
        if not busy:
            return
        wasyncore.poll2(min(0.05, max(0.0, deadline - time.monotonic())), server._map)


def close(server) -> None:
    wasyncore.close_all(server._map, ignore_all=True)  # a worker writing to one stops
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
