"""The POST client's answer framing, against loopback servers that answer byte for byte."""

from __future__ import annotations

import pytest

from peers import LineServer
from sereport.report import httpclient


def exchange(replies, posts=1, limit=1024):
    """POST `posts` times on one Connection; [(status, reason, still open)], server accepts."""
    answers = iter(replies)
    server = LineServer(lambda request: next(answers, None))
    accepted_before = 0
    conn = httpclient.Connection("127.0.0.1", server.port)
    got = []
    try:
        for _ in range(posts):
            if conn.sock is None:
                conn.connect(2)
                accepted_before += 1
            conn.sock.settimeout(2)
            status, reason = conn.post("/beat", b'{"a":1}', {"Content-Type": "application/json"},
                                       limit)
            got.append((status, reason, conn.sock is not None))
    finally:
        conn.close()
        server.close()
    return got, accepted_before, server.requests


def test_request_is_framed_with_host_and_length():
    got, _, requests = exchange([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    assert got == [(200, "OK", True)]
    head, body = requests[0].split("\r\n\r\n", 1)
    lines = head.split("\r\n")
    assert lines[0] == "POST /beat HTTP/1.1"
    assert lines[1].startswith("Host: 127.0.0.1:")
    assert "Content-Length: 7" in lines and "Content-Type: application/json" in lines
    assert body == '{"a":1}'


def test_keep_alive_over_length_and_chunked_answers():
    got, connects, _ = exchange([
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
    ], posts=3)
    assert got == [(200, "OK", True), (201, "Created", True), (204, "No Content", True)]
    assert connects == 1


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000,  # over the read limit
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" + b"x" * 4096 + b"\r\n0\r\n\r\n",
])
def test_connection_is_closed_when_the_answer_says_so_or_is_not_read_whole(answer):
    got, _, _ = exchange([answer])
    assert got == [(200, "OK", False)]


def test_interim_answer_is_skipped():
    got, _, _ = exchange([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\n"
                          b"Content-Length: 0\r\n\r\n"])
    assert got == [(202, "Accepted", True)]


@pytest.mark.parametrize("answer, error", [
    (b"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP answer"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "answer cut short"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", "answer line too long"),
])
def test_broken_answers_raise(answer, error):
    server = LineServer(lambda request: answer, close_after=True)
    conn = httpclient.Connection("127.0.0.1", server.port)
    try:
        conn.connect(2)
        conn.sock.settimeout(2)
        with pytest.raises(httpclient.HTTPError, match=error):
            conn.post("/", b"{}", {}, 1024)
    finally:
        conn.close()
        server.close()


def test_close_without_an_answer_is_no_answer():
    server = LineServer(lambda request: None)
    conn = httpclient.Connection("127.0.0.1", server.port)
    try:
        conn.connect(2)
        conn.sock.settimeout(2)
        with pytest.raises((httpclient.NoAnswer, ConnectionResetError)):
            conn.post("/", b"{}", {}, 1024)
    finally:
        conn.close()
        server.close()
