"""Speaking HTTP/1.1 byte for byte to a server under test, over loopback sockets."""

from __future__ import annotations

import socket
import time


def connect(host: str, port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection((host, port), timeout=timeout)


def read_until_closed(sock: socket.socket, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Everything the server sends within timeout, and whether it closed the connection."""
    sock.settimeout(0.2)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def closed_within(sock: socket.socket, timeout: float) -> float | None:
    """Seconds until the server closed the connection (reading and dropping what it
    sends), None if it did not within timeout."""
    started = time.monotonic()
    _, closed = read_until_closed(sock, timeout)
    return time.monotonic() - started if closed else None


def talk(host: str, port: int, data: bytes, timeout: float = 5.0) -> tuple[bytes, bool, float]:
    """Send data on a new connection (without half-closing it), and read: what came back,
    whether the server closed the connection, and the seconds until the first byte."""
    with connect(host, port, timeout) as sock:
        started = time.monotonic()
        sock.sendall(data)
        sock.settimeout(timeout)
        try:
            first = sock.recv(65536)
        except socket.timeout:
            return b"", False, timeout
        took = time.monotonic() - started
        if not first:
            return b"", True, took
        rest, closed = read_until_closed(sock, 1.0)
        return first + rest, closed, took


def answers(raw: bytes, head: bool = False) -> list[tuple[int, dict[str, str], bytes]]:
    """(status, headers with lower-case names, body) of each answer in raw; 1xx answers
    included; with head, answers carry no body whatever their Content-Length says."""
    got = []
    while raw:
        block, sep, raw = raw.partition(b"\r\n\r\n")
        assert sep, f"an unfinished answer: {block!r}"
        lines = block.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status = int(lines[0].split()[1])
        size = 0 if head or status < 200 else int(headers.get("content-length", "0"))
        got.append((status, headers, raw[:size]))
        raw = raw[size:]
    return got


def complete(raw: bytes, count: int, head: bool = False) -> bool:
    """Whether raw holds count whole answers (1xx ones not counted)."""
    done = 0
    while raw:
        block, sep, rest = raw.partition(b"\r\n\r\n")
        if not sep:
            return False
        lines = block.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        size = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length" and not head and status >= 200:
                size = int(value)
        if len(rest) < size:
            return False
        raw = rest[size:]
        done += status >= 200
    return done >= count


def read_answers(sock: socket.socket, count: int = 1, head: bool = False,
                 timeout: float = 5.0) -> list[tuple[int, dict[str, str], bytes]]:
    """Read until count whole answers came (all of them, 1xx included)."""
    sock.settimeout(timeout)
    raw = b""
    while not complete(raw, count, head):
        chunk = sock.recv(65536)
        assert chunk, f"closed after {raw!r}"
        raw += chunk
    return answers(raw, head)


def request(method: str, path: str, body: bytes = b"", headers: dict | None = None,
            version: str = "HTTP/1.1") -> bytes:
    lines = [f"{method} {path} {version}", "Host: test"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body and not any(k.lower() in ("content-length", "transfer-encoding")
                        for k in (headers or {})):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(body: bytes, size: int = 1000) -> bytes:
    parts = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def proc_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


def threads_of(pid: int) -> int:
    return int(proc_status(pid)["Threads"])


def rss_kib(pid: int) -> int:
    return int(proc_status(pid)["VmRSS"].split()[0])
