"""How delivery reads the platform's answers, over real loopback sockets: what keeps the
connection, what ends a POST at its total deadline, and answers that are never POSTed
again (issue 13 #6 and #9, issue 12 #4)."""

from __future__ import annotations

import time

import pytest

from platforms import Scripted, answer, reset, trickle
from sereport.config import Config
from sereport.report.delivery import Sender as RealSender

DOC = [("gateway", {"dev_sno": "X"})]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def Sender(timeouts=(1, 1)):
    sender = RealSender(Config(path="test.yaml", dev_sno="X"))
    sender.timeouts = timeouts
    return sender


def beat(sender, url, seconds):
    """One beat with this deadline: (its result, how long it took)."""
    started = time.monotonic()
    [result] = sender.send((url,), DOC, started + seconds)
    return result, time.monotonic() - started


def serve(*answers: bytes, keep: bool = True) -> Scripted:
    """A platform giving these answers in turn, then the last one again."""
    queue = list(answers)

    def script(conn, server):
        conn.sendall(queue.pop(0) if len(queue) > 1 else queue[0])
        return keep
    return Scripted(script)


# --- what is sent, and what keeps the connection -----------------------------------------

def test_request_is_framed_with_host_length_and_body():
    platform = serve(OK)
    try:
        result = Sender().post(platform.url, "gateway", b'{"a":1}')
    finally:
        platform.close()
    assert result.ok
    lines = platform.heads[0].split("\r\n")
    assert lines[0] == "POST /DeviceStatus HTTP/1.1"
    assert f"Host: 127.0.0.1:{platform.port}" in lines and "Content-Length: 7" in lines


def test_keep_alive_over_length_chunked_and_empty_answers():
    platform = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                     b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n",
                     b"HTTP/1.1 204 No Content\r\n\r\n")
    sender = Sender()
    try:
        results = [sender.post(platform.url, "gateway", b"{}") for _ in range(3)]
    finally:
        platform.close()
        sender.close()
    assert [r.reason for r in results] == ["HTTP 200 OK", "HTTP 201 Created", "HTTP 204 No Content"]
    assert platform.accepted == 1


@pytest.mark.parametrize("first", [
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n" + b"x" * 70000,  # over the cap
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + (b"8000\r\n" + b"x" * 0x8000
                                                                 + b"\r\n") * 8 + b"0\r\n\r\n",
])
def test_a_connection_is_not_kept_when_the_answer_says_so_or_is_not_read_whole(first):
    platform = serve(first, OK)
    sender = Sender()
    try:
        results = [sender.post(platform.url, "gateway", b"{}") for _ in range(2)]
    finally:
        platform.close()
        sender.close()
    assert all(r.ok for r in results)
    assert platform.accepted == 2


@pytest.mark.parametrize("sent, ok, reason", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", True, "HTTP 200 OK"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", True, "HTTP 200 OK"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", True, "HTTP 200 OK"),
    (b"HTTP/1.1 500 Oops\r\nContent-Length: 10\r\n\r\nshort", False, "HTTP 500 Oops"),
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", False,
     "answer cut short after HTTP 200 OK: answer line too long"),
])
def test_a_broken_body_costs_the_connection_and_the_status_stands(sent, ok, reason):
    """Once the head is whole, the status is the platform's answer; a body that breaks off
    only means the connection is not kept. A head that breaks off fails, not retried."""
    platform = Scripted(answer(sent, keep=False))
    try:
        result, _ = beat(Sender(), platform.url, 0.5)
    finally:
        platform.close()
    assert (result.ok, result.reason) == (ok, reason)
    assert platform.posts == result.attempts
    assert (result.attempts > 1) == (result.status == 500)  # a 500 is retried, as ever


def test_two_identical_content_lengths_are_one_answer():
    """Issue 12 #4: accepted, not 'not an HTTP answer' and a retry."""
    platform = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok")
    sender = Sender()
    try:
        result, _ = beat(sender, platform.url, 2)
        again, _ = beat(sender, platform.url, 2)
    finally:
        platform.close()
        sender.close()
    assert result.ok and result.reason == "HTTP 200 OK" and result.attempts == 1
    assert again.ok and platform.posts == 2 and platform.accepted == 1  # and the body was read


def test_interim_answers_are_skipped():
    platform = serve(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\nX-A: b\r\n\r\n"
                     b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
    try:
        result = Sender().post(platform.url, "gateway", b"{}")
    finally:
        platform.close()
    assert result.ok and result.reason == "HTTP 202 Accepted"


def test_a_redirect_is_a_failure_naming_its_location_redacted():
    platform = serve(b"HTTP/1.1 302 Found\r\nLocation: http://u:pw@127.0.0.1:9/new?token=abc\r\n"
                     b"Content-Length: 0\r\n\r\n")
    try:
        result, _ = beat(Sender(), platform.url, 1)
    finally:
        platform.close()
    assert not result.ok and result.status == 302 and platform.posts == 1
    assert result.reason == ("HTTP 302 Found, redirect to http://u:***@127.0.0.1:9/new?token=*** "
                             "not followed")


# --- a total deadline per POST (issue 13 #6) ---------------------------------------------

@pytest.mark.parametrize("script, reason", [
    # the status line a byte every 0.1 s: each read is quick, the answer never ends
    (trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0.1),
     "no whole answer within 1s"),
    # the status line, then header lines without end
    (trickle(b"HTTP/1.1 200 OK\r\n", 0.01, then=b"X-More: yes\r\n"),
     "answer cut short after HTTP 200 OK: no whole answer within 1s"),
    # 100 Continue without end, slowly
    (trickle(b"", 0.05, then=b"HTTP/1.1 100 Continue\r\n\r\n"), "no whole answer within 1s"),
])
def test_an_answer_that_never_ends_costs_the_deadline_of_the_post(script, reason):
    platform = Scripted(script)
    try:
        started = time.monotonic()
        result = Sender((0.5, 0.5)).post(platform.url, "gateway", b"{}")
        took = time.monotonic() - started
    finally:
        platform.close()
    assert not result.ok and result.reason == reason
    assert took < 1.4, took  # the POST's connect and read timeouts together, not per read


def test_a_flood_of_interim_answers_is_cut_short_at_once():
    platform = Scripted(answer(b"HTTP/1.1 100 Continue\r\n\r\n" * 5000))
    try:
        result = Sender((0.5, 2)).post(platform.url, "gateway", b"{}")
    finally:
        platform.close()
    assert not result.ok and result.reason == "more than 20 interim (1xx) answers"
    assert result.elapsed < 1


def test_a_beat_with_a_trickling_platform_ends_by_its_deadline():
    platform = Scripted(trickle(b"HTTP/1.1 200 OK\r\n", 0.2, then=b"X: y\r\n"))
    try:
        result, took = beat(Sender((3, 10)), platform.url, 1.2)
    finally:
        platform.close()
    assert not result.ok and took < 1.45, took
    assert platform.posts == 1  # the status line arrived: not POSTed again


def test_a_body_that_trickles_is_left_and_the_answer_counts():
    """The head at once, then the body a byte every 0.2 s: the status is the answer; the
    connection, not read to the end, is closed at the deadline and not kept."""
    def script(conn, server):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            if server.closed.wait(0.2):
                return False
            conn.sendall(b"x")
        return True
    platform = Scripted(script)
    sender = Sender((0.5, 0.5))
    try:
        result, took = beat(sender, platform.url, 3)
        second, _ = beat(sender, platform.url, 3)
    finally:
        platform.close()
        sender.close()
    assert result.ok and result.reason == "HTTP 200 OK" and result.attempts == 1
    assert took < 1.3, took
    assert platform.posts == 2 and platform.accepted == 2  # that connection was not kept


# --- answers that arrived are not POSTed again (issue 13 #9) -----------------------------

def test_an_answer_without_length_on_a_kept_connection_counts_at_once():
    """200 with no Content-Length, and the platform keeps the connection open: the body
    runs to a close that never comes. The status is the answer."""
    def script(conn, server):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nok")
        server.closed.wait(30)
        return False
    platform = Scripted(script)
    try:
        result, took = beat(Sender((1, 2)), platform.url, 3)
    finally:
        platform.close()
    assert result.ok and result.reason == "HTTP 200 OK" and result.attempts == 1
    assert took < 0.5, took
    assert platform.posts == 1


@pytest.mark.parametrize("sent, ok, reason", [
    (b"HTTP/1.1 200 OK\r\n", False, "answer cut short after HTTP 200 OK: connection reset"),
    (b"HTTP/1.1 503 Service Unavailable\r\nRetry-", False,
     "answer cut short after HTTP 503 Service Unavailable: connection reset"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf", True, "HTTP 200 OK"),
])
def test_a_reset_after_the_status_line_is_not_retried(sent, ok, reason):
    def script(conn, server):
        conn.sendall(sent)
        time.sleep(0.05)
        reset(conn)
        return False
    platform = Scripted(script)
    try:
        result, _ = beat(Sender(), platform.url, 3)
    finally:
        platform.close()
    assert (result.ok, result.reason, result.attempts) == (ok, reason, 1)
    assert platform.posts == 1


def test_a_reset_before_any_answer_is_retried():
    def script(conn, server):
        if server.posts == 1:
            reset(conn)
            return False
        conn.sendall(OK)
        return True
    platform = Scripted(script)
    try:
        result, _ = beat(Sender(), platform.url, 3)
    finally:
        platform.close()
    assert result.ok and result.attempts == 2 and platform.posts == 2
