"""A small HTTP/1.1 server for the local API: request in, one answer out.

The standard library's http.server would do, but it loads http.client,
the ssl module and the email package: 6.5 MiB of RSS in a daemon meant to
fit in 24.  This reads the request line and headers, hands a Request to
the application, and writes its answer with a Content-Length.  Connections
are kept alive (HTTP/1.1) and closed after ``IDLE`` seconds of quiet.
"""

from __future__ import annotations

import errno
import socket
import socketserver
import threading
import time
from typing import Callable

MAX_LINE = 8 * 1024
MAX_HEADERS = 100
MAX_DRAIN = 64 * 1024  # an unread body up to this is skipped to keep the connection
IDLE = 60.0
REASONS = {100: "Continue", 200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request",
           401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
           411: "Length Required", 413: "Content Too Large", 414: "URI Too Long",
           431: "Request Header Fields Too Large", 500: "Internal Server Error",
           503: "Service Unavailable", 505: "HTTP Version Not Supported"}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(when: float | None = None) -> str:
    t = time.gmtime(when)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")


class Request:
    """One request: method, target, path (no query), headers (lower-case names)."""

    def __init__(self, method: str, target: str, version: str, headers: dict[str, str], rfile):
        self.method, self.target, self.version = method, target, version
        self.path = target.split("?", 1)[0]
        self.headers = headers
        self.rfile = rfile
        self.consumed = 0  # body bytes the application read

    def read(self, size: int) -> bytes:
        data = self.rfile.read(size)
        self.consumed += len(data)
        return data


class Answer:
    def __init__(self, status: int, body: bytes, content_type: str,
                 headers: dict[str, str] | None = None, close: bool = False):
        self.status, self.body, self.content_type = status, body, content_type
        self.headers = headers or {}
        self.close = close


class _BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _Handler(socketserver.StreamRequestHandler):
    server: Server
    timeout = IDLE

    def handle(self) -> None:
        try:
            while self._one():
                pass
        except OSError:
            pass  # the client went away, or stayed quiet past IDLE

    def _line(self) -> bytes:
        line = self.rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise _BadRequest(431, "a request line or header over 8 KiB")
        return line

    def _one(self) -> bool:
        """Serve one request; False when the connection is to close."""
        try:
            line = self._line()
            while line in (b"\r\n", b"\n"):  # empty lines before a request are allowed
                line = self._line()
            if not line:
                return False
            parts = line.decode("latin-1").split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                raise _BadRequest(400, "not an HTTP request line")
            if parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
                raise _BadRequest(505, f"{parts[2]} is not spoken here; use HTTP/1.1")
            headers = self._headers()
        except _BadRequest as bad:
            self._write(Answer(bad.status, self.server.error_body(str(bad)),
                               self.server.error_type, close=True))
            return False
        method, target, version = parts
        request = Request(method, target, version, headers, self.rfile)
        connection = headers.get("connection", "").lower()
        close = "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
        if version == "HTTP/1.1" and headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        answer = self.server.app(request)
        close = close or answer.close or not self._drain(request)
        answer.close = close
        self._write(answer)
        return not close

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            line = self._line()
            if line in (b"\r\n", b"\n", b""):
                return headers
            name, sep, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if not sep or not name or " " in name:
                raise _BadRequest(400, "a header line without a name")
            headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
        raise _BadRequest(431, f"over {MAX_HEADERS} header lines")

    @staticmethod
    def _drain(request: Request) -> bool:
        """Skip what is left of the body; False when the connection cannot be kept."""
        if "transfer-encoding" in request.headers:
            return False
        try:
            left = int(request.headers.get("content-length", "0")) - request.consumed
        except ValueError:
            return False
        if left > MAX_DRAIN:
            return False
        return left <= 0 or len(request.read(left)) == left

    def _write(self, answer: Answer) -> None:
        head = [f"HTTP/1.1 {answer.status} {REASONS.get(answer.status, 'Unknown')}",
                f"Server: {self.server.name}", f"Date: {http_date()}",
                f"Content-Type: {answer.content_type}", f"Content-Length: {len(answer.body)}"]
        head += [f"{name}: {value}" for name, value in answer.headers.items()]
        if answer.close:
            head.append("Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + answer.body)


class Server(socketserver.ThreadingTCPServer):
    """Serves ``app(Request) -> Answer``, a thread per connection, from start() to stop().

    The accepting thread blocks in accept() and nothing else: no poll every
    half second as in serve_forever, so an idle API costs no CPU at all.
    """

    daemon_threads = True
    allow_reuse_address = True
    name = "sereport"
    error_type = "text/plain; charset=utf-8"

    def __init__(self, address: tuple[str, int], app: Callable[[Request], Answer]):
        self.app = app
        self._stopping = False
        self._accepting: threading.Thread | None = None
        super().__init__(address, _Handler)

    def start(self, thread_name: str = "http") -> None:
        self._accepting = threading.Thread(target=self._accept, name=thread_name, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, address = self.socket.accept()
            except OSError as exc:
                if self._stopping:
                    return
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    time.sleep(0.1)  # out of files or memory: try again soon, without spinning
                continue
            try:
                self.process_request(conn, address)  # a thread for the connection
            except Exception:  # noqa: BLE001 - no thread to be had: drop this one connection
                self.shutdown_request(conn)

    def stop(self) -> None:
        """Stop accepting (wakes the blocked accept) and close the listening socket."""
        self._stopping = True
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self._accepting is not None:
            self._accepting.join(5)
        self.server_close()

    @property
    def server_port(self) -> int:
        return self.server_address[1]

    def error_body(self, message: str) -> bytes:
        return message.encode("utf-8")
