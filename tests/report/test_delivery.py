"""One POST and one beat's sending, over real loopback sockets."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from peers import HangingServer, HttpSink, LineServer, Platform, refused_port
from sereport.config import Config
from sereport.report.delivery import Sender as RealSender
from sereport.report.delivery import encode

DOC = [("gateway", {"dev_sno": "X", "gateway_name": "设备"})]


def Sender(timeouts=(1, 1), **settings):
    """A Sender with these (connect, read) timeouts and any other config settings."""
    sender = RealSender(Config(path="test.yaml", dev_sno="X", **settings))
    sender.timeouts = timeouts
    return sender


def one(sender, url, deadline=1.0):
    [result] = sender.send((url,), DOC, time.monotonic() + deadline)
    return result


def test_2xx_is_ok_and_body_is_utf8_json():
    sink = HttpSink(status=204)
    try:
        result = one(Sender(), sink.url)
    finally:
        sink.close()
    assert result.ok and result.status == 204 and result.reason == "HTTP 204 No Content"
    _, path, headers, body = sink.received[0]
    assert body == DOC[0][1] and path == "/DeviceStatus"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["User-Agent"].startswith("sereport/")


@pytest.mark.parametrize("status, retried", [(400, False), (404, False), (500, True), (503, True),
                                             (429, True), (302, False)])
def test_error_status_is_a_failed_result(status, retried):
    sink = HttpSink(status=status)
    try:
        result = one(Sender(), sink.url, deadline=0.6)
    finally:
        sink.close()
    assert not result.ok and result.status == status and result.reason.startswith(f"HTTP {status}")
    assert (len(sink.received) > 1) == retried  # 5xx, 429 retried within the beat; 4xx, 3xx not


def test_redirect_is_not_followed():
    sink = HttpSink(status=302)
    try:
        result = Sender().post(sink.url, "gateway", b"{}")
    finally:
        sink.close()
    assert not result.ok and len(sink.received) == 1


def test_refused():
    result = Sender().post(f"http://127.0.0.1:{refused_port()}/x", "gateway", b"{}")
    assert not result.ok and result.reason == "connection refused" and result.status is None


def test_server_that_hangs_costs_the_read_timeout():
    server = HangingServer()
    try:
        started = time.monotonic()
        result = Sender((0.5, 0.5)).post(f"http://127.0.0.1:{server.port}/x", "gateway", b"{}")
        took = time.monotonic() - started
    finally:
        server.close()
    assert not result.ok and result.reason == "no answer within 0.5s"
    assert took < 2  # bounded by the timeout, not by the peer


def test_server_that_never_accepts_costs_the_connect_timeout():
    server = HangingServer(accept=False)
    fillers = []
    try:
        for _ in range(8):  # fill the backlog: the next SYN gets no answer
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", server.port))
            fillers.append(filler)
        result = Sender((0.3, 1)).post(f"http://127.0.0.1:{server.port}/x", "gateway", b"{}")
    finally:
        for filler in fillers:
            filler.close()
        server.close()
    assert not result.ok and result.reason == "no connection within 0.3s"


@pytest.mark.parametrize("reply, reasons", [
    (lambda req: b"SSH-2.0-OpenSSH\r\n\r\n", {"not an HTTP answer"}),
    (lambda req: None, {"connection closed without an answer", "connection reset"}),
])
def test_answers_that_are_not_http(reply, reasons):
    server = LineServer(reply)
    try:
        result = Sender().post(f"http://127.0.0.1:{server.port}/x", "gateway", b"{}")
    finally:
        server.close()
    assert not result.ok and result.reason in reasons


def test_keep_alive():
    platform = Platform()
    try:
        sender = Sender()
        for _ in range(3):
            assert one(sender, platform.url).ok
    finally:
        platform.close()
    assert platform.accepted == 1  # one connection kept alive for three beats


def test_a_kept_alive_connection_the_platform_dropped_is_replaced_at_once():
    """The platform answers, keeps quiet about it, and closes the connection soon after
    (an idle timeout): the next POST finds it dead and goes out on a new one."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            time.sleep(0.05)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/x"
    try:
        sender = Sender()
        first = sender.post(url, "gateway", b"{}")
        time.sleep(0.3)
        second = sender.post(url, "gateway", b"{}")
    finally:
        listener.close()
    assert first.ok and second.ok and second.attempts == 1
    assert len(accepted) == 2


def test_every_document_to_every_url():
    good, bad = Platform(), Platform()
    bad.set("error")
    try:
        docs = DOC + [("media", {"mq_license_key": "X"})]
        results = Sender().send((good.url, bad.url), docs, time.monotonic() + 0.6)
    finally:
        good.close()
        bad.close()
    assert [(r.url, r.format, r.ok) for r in results] == [
        (good.url, "gateway", True), (good.url, "media", True),
        (bad.url, "gateway", False), (bad.url, "media", False)]


def test_result_url_and_reason_never_show_secrets():
    secret = f"http://u:pw@127.0.0.1:{refused_port()}/DeviceStatus?token=abc"
    result = one(Sender(), secret, deadline=0.3)
    assert "pw" not in result.url + result.reason and "abc" not in result.url + result.reason
    assert result.url.startswith("http://u:***@127.0.0.1:")


def test_encode_keeps_chinese_readable():
    assert encode({"a": "前门"}) == '{"a":"前门"}'.encode("utf-8")


def test_targets_are_sent_in_parallel():
    slow = [HttpSink(delay=0.6) for _ in range(3)]
    try:
        started = time.monotonic()
        results = Sender((2, 2)).send(tuple(s.url for s in slow), DOC, time.monotonic() + 3)
        took = time.monotonic() - started
    finally:
        for s in slow:
            s.close()
    assert all(r.ok for r in results)
    assert took < 1.5  # three 0.6 s answers side by side, not one after another


def test_warm_starts_the_worker_threads_before_the_first_beat():
    sender = Sender()
    try:
        sender.warm(2)
        assert sum(t.is_alive() for t in sender._pool._threads) == 2
        platform = Platform()
        try:
            assert one(sender, platform.url).ok
        finally:
            platform.close()
    finally:
        sender.close()
