"""Loopback platforms that answer badly, and a loopback HTTP proxy, for delivery's tests.

``Scripted`` reads each request and counts it, then lets a script answer: byte by byte,
endlessly, with a reset. ``Proxy`` records what a client asks a proxy for; it answers
plain requests itself (so the host they name is never looked up or reached) and tunnels
CONNECT to loopback only."""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time

from peers import accept_each


def read_request(conn, data: bytes = b"") -> tuple[str, bytes, bytes] | None:
    """(head, body, what followed) of the next request on ``conn``; None at the close."""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    text = head.decode("latin-1")
    length = next((int(line.split(":", 1)[1]) for line in text.split("\r\n")[1:]
                   if line.lower().startswith("content-length:")), 0)
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return text, rest[:length], rest[length:]


def reset(conn) -> None:
    """Close with a TCP reset, not a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


class Scripted:
    """Answers every request with ``script(conn, server)``, which writes what it likes and
    returns True to keep the connection for the next request (else it is closed).
    ``posts`` counts the requests that arrived whole; ``heads`` holds their heads."""

    def __init__(self, script, tls_context: ssl.SSLContext | None = None):
        self.script = script
        self.tls_context = tls_context
        self.posts = 0
        self.accepted = 0
        self.heads: list[str] = []
        self.closed = threading.Event()
        self.conns: list[socket.socket] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}/DeviceStatus"

    def _accept(self):
        accept_each(self.sock, self._handle, self._note)

    def _note(self, conn) -> None:
        self.accepted += 1
        self.conns.append(conn)

    def _handle(self, conn):
        try:
            if self.tls_context is not None:
                conn = self.tls_context.wrap_socket(conn, server_side=True)
            conn.settimeout(10)
            rest = b""
            while not self.closed.is_set():
                request = read_request(conn, rest)
                if request is None:
                    return
                head, _body, rest = request
                self.heads.append(head)
                self.posts += 1
                if not self.script(conn, self):
                    return
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self):
        self.closed.set()
        self.sock.close()
        for conn in self.conns:
            try:
                conn.close()
            except OSError:
                pass


def answer(data: bytes, keep: bool = True):
    """A script: send ``data`` at once."""
    def script(conn, server):
        conn.sendall(data)
        return keep
    return script


def trickle(data: bytes, every: float, then: bytes = b""):
    """A script: send ``data`` a byte at a time, one every ``every`` seconds, then ``then``
    endlessly the same way (b"": then hold the connection open) until the server closes."""
    def script(conn, server):
        def feed(chunk):
            for i in range(len(chunk)):
                if server.closed.wait(every):
                    return False
                conn.sendall(chunk[i:i + 1])
            return True
        if not feed(data):
            return False
        while then and feed(then):
            pass
        server.closed.wait(30)
        return False
    return script


class Proxy:
    """A loopback HTTP proxy that records each request head it is asked (``heads``).
    A plain request gets ``answer`` from the proxy itself; CONNECT to a loopback port is
    tunnelled (or refused with ``connect_status``)."""

    def __init__(self, answer: bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                 connect_status: int = 200):
        self.answer = answer
        self.connect_status = connect_status
        self.heads: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        accept_each(self.sock, self._handle)

    def _handle(self, conn):
        try:
            conn.settimeout(10)
            rest = b""
            while True:
                request = read_request(conn, rest)
                if request is None:
                    return
                head, _body, rest = request
                self.heads.append(head)
                method, target = head.split(" ", 2)[:2]
                if method != "CONNECT":
                    conn.sendall(self.answer)
                    continue
                if self.connect_status != 200:
                    conn.sendall(f"HTTP/1.1 {self.connect_status} No\r\nContent-Length: 0\r\n"
                                 f"\r\n".encode())
                    return
                host, _, port = target.rpartition(":")
                upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self._pipe(conn, upstream, rest)
                return
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _pipe(a, b, pending: bytes):
        if pending:
            b.sendall(pending)

        def one_way(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        other = threading.Thread(target=one_way, args=(b, a), daemon=True)
        other.start()
        one_way(a, b)
        other.join(5)
        b.close()

    def close(self):
        self.sock.close()


def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
