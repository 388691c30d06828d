"""A kept-alive HTTP/1.1 connection that POSTs: all delivery needs of HTTP.

The standard library's http.client would do, but it loads the ssl module
and the email package at import: 6.5 MiB of RSS on a box that may never
post over https.  Here TLS is loaded only for an https:// place.  The
answer's status, reason and body (up to a cap) are read; redirects are
answers like any other, never followed.
"""

from __future__ import annotations

import socket

MAX_LINE = 64 * 1024  # a status or header line
MAX_HEADERS = 100


class HTTPError(Exception):
    """The answer was not HTTP, or broke off."""


class NoAnswer(HTTPError):
    """The connection closed before any byte of an answer."""


class Connection:
    """One place (scheme, host, port); connects again after a close."""

    def __init__(self, host: str, port: int | None, tls=None):
        self.host = host
        self.port = port or (443 if tls is not None else 80)
        self.tls = tls  # an ssl.SSLContext for https
        self.sock: socket.socket | None = None
        self._file = None

    def connect(self, timeout: float) -> None:
        sock = socket.create_connection((self.host, self.port), timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self._file = sock.makefile("rb")

    def close(self) -> None:
        """Close now, also when another thread is waiting for an answer on it."""
        sock, file = self.sock, self._file
        self.sock = self._file = None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a reader blocked in recv
            except OSError:
                pass
        if file is not None:
            file.close()
        if sock is not None:
            sock.close()

    def post(self, target: str, body: bytes, headers: dict[str, str],
             read_limit: int) -> tuple[int, str]:
        """(status, reason); reads at most read_limit bytes of the body.

        The connection stays open when the answer was read whole and the
        server keeps it; otherwise it is closed.
        """
        host = self.host if ":" not in self.host else f"[{self.host}]"
        default = 443 if self.tls is not None else 80
        lines = [f"POST {target} HTTP/1.1",
                 f"Host: {host}" + ("" if self.port == default else f":{self.port}"),
                 f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        sock, file = self.sock, self._file  # close() from another thread leaves these working
        if sock is None:
            raise NoAnswer("not connected")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        try:
            while True:
                version, status, reason = _status_line(file)
                fields = _headers(file)
                if status >= 200 or status == 101:
                    break  # 1xx: an interim answer, the real one follows
            keep = _read_body(file, status, fields, read_limit)
        except ValueError:  # the file was closed under us
            raise NoAnswer("connection closed") from None
        connection = fields.get("connection", "").lower()
        if not keep or "close" in connection or (version == "HTTP/1.0"
                                                 and "keep-alive" not in connection):
            self.close()
        return status, reason


def _line(file) -> bytes:
    line = file.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise HTTPError("answer line too long")
    return line


def _status_line(file) -> tuple[str, int, str]:
    line = _line(file)
    if not line:
        raise NoAnswer("connection closed without an answer")
    version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise HTTPError("not an HTTP answer")
    return version, int(code), reason.strip()


def _headers(file) -> dict[str, str]:
    fields: dict[str, str] = {}
    for _ in range(MAX_HEADERS):
        line = _line(file)
        if not line:
            raise HTTPError("answer cut short")
        if line in (b"\r\n", b"\n"):
            return fields
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            name = name.strip().lower()
            fields[name] = f"{fields[name]}, {value.strip()}" if name in fields else value.strip()
    raise HTTPError("too many header lines")


def _read_body(file, status: int, fields: dict[str, str], limit: int) -> bool:
    """Read the body; True when it was read whole (the connection can stay)."""
    if status in (204, 304) or 100 <= status < 200:
        return True
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return _read_chunked(file, limit)
    length = fields.get("content-length")
    if length is None:  # the body runs to the close
        file.read(limit)
        return False
    if not length.isdigit():
        raise HTTPError("bad Content-Length")
    size = int(length)
    if size > limit:
        return False
    if len(file.read(size)) < size:
        raise HTTPError("answer cut short")
    return True


def _read_chunked(file, limit: int) -> bool:
    total = 0
    while True:
        size_text = _line(file).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HTTPError("bad chunk size") from None
        if size == 0:
            while _line(file) not in (b"\r\n", b"\n", b""):
                pass  # trailer fields
            return True
        total += size
        if total > limit:
            return False
        if len(file.read(size + 2)) < size + 2:
            raise HTTPError("answer cut short")
