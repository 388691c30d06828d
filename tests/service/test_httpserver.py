"""The API's HTTP framing, spoken to byte for byte over a loopback socket."""

from __future__ import annotations

import re
import socket

import pytest

from sereport.service.httpserver import Answer, Server, http_date


@pytest.fixture(scope="module")
def running():
    seen = []

    def app(request):
        body = request.read(int(request.headers.get("content-length", "0") or 0)) \
            if request.path == "/echo" else b""
        seen.append((request.method, request.target, request.path, request.headers, body))
        return Answer(200, b"got " + body, "text/plain")

    made = Server(("127.0.0.1", 0), app)
    made.seen = seen
    made.start()
    yield made
    made.stop()


@pytest.fixture
def server(running):
    running.seen.clear()
    return running


def talk(server, data: bytes) -> bytes:
    """Send data, half-close, read everything the server says until it closes."""
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


def answers(raw: bytes) -> list[tuple[int, dict, bytes]]:
    got = []
    while raw:
        head, _, raw = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        size = int(headers.get("Content-Length", "0"))
        got.append((int(lines[0].split()[1]), headers, raw[:size]))
        raw = raw[size:]
    return got


def test_keep_alive_serves_requests_in_turn_and_skips_unread_bodies(server):
    raw = talk(server, b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
                       b"POST /skip HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                       b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
    got = answers(raw)
    assert [(status, body) for status, _, body in got] == [(200, b"got "), (200, b"got "),
                                                          (200, b"got abc")]
    assert got[-1][1]["Connection"] == "close"
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", got[0][1]["Date"])
    method, target, path, headers, _ = server.seen[0]
    assert (method, target, path, headers["host"]) == ("GET", "/a?x=1", "/a", "h")


def test_http_1_0_closes_after_one_answer(server):
    got = answers(talk(server, b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n"))
    assert len(got) == 1 and got[0][1]["Connection"] == "close"


def test_expect_100_continue_is_answered(server):
    raw = talk(server, b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
                       b"Connection: close\r\n\r\nhi")
    assert raw.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert raw.endswith(b"got hi")


@pytest.mark.parametrize("request_bytes, status", [
    (b"HELLO\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", 431),
])
def test_malformed_requests_get_a_4xx_and_a_close(server, request_bytes, status):
    got = answers(talk(server, request_bytes))
    assert len(got) == 1 and got[0][0] == status and got[0][1]["Connection"] == "close"
    assert not server.seen


def test_chunked_request_body_closes_the_connection(server):
    got = answers(talk(server, b"POST /skip HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                               b"2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n"))
    assert len(got) == 1 and got[0][1]["Connection"] == "close"


def test_http_date_is_rfc_9110_format():
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert http_date(1763700000) == "Fri, 21 Nov 2025 04:40:00 GMT"


def test_stop_wakes_the_blocked_accept_and_frees_the_port():
    made = Server(("127.0.0.1", 0), lambda request: Answer(200, b"", "text/plain"))
    made.start()
    port = made.server_port
    assert answers(talk(made, b"GET / HTTP/1.0\r\n\r\n"))[0][0] == 200
    made.stop()
    assert not made._accepting.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
