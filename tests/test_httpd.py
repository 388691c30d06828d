"""sereport.httpd in this process: no wake-ups when idle, a clean stop, signals left to
the main thread, addresses."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time

import pytest

import rawhttp
from sereport import httpd


def hello(environ, start_response):
    body = b"hello " + environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def error_body(status, message):
    return "application/json", json.dumps({"status": status, "message": message}).encode()


@pytest.fixture
def server():
    before = set(threading.enumerate())
    made = httpd.HttpServer(hello, "127.0.0.1", 0, name="test-httpd", error_body=error_body,
                            threads=2, idle_timeout=2)
    made.start()
    made.before = before
    yield made
    made.stop()


def task_status(thread: threading.Thread) -> dict[str, str]:
    with open(f"/proc/self/task/{thread.native_id}/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


def wakeups(threads) -> int:
    return sum(int(task_status(t)["voluntary_ctxt_switches"]) for t in threads)


def threads_of(server) -> list:
    """The server's loop thread and waitress's workers (not other tests' leftovers)."""
    return [t for t in threading.enumerate() if t not in server.before
            and (t.name == server.name or t.name.startswith("waitress-"))]


def test_waitress_and_its_workers_start_at_the_first_connection(server):
    assert [t.name for t in threads_of(server)] == ["test-httpd"]  # waiting in poll()
    assert server.server is None
    raw, _, _ = rawhttp.talk("127.0.0.1", server.port, b"GET / HTTP/1.0\r\n\r\n")
    assert raw.endswith(b"hello ")
    assert len(threads_of(server)) == 3  # two workers and the loop


def test_an_idle_server_never_wakes(server):
    time.sleep(0.3)  # the loop thread has started and is waiting in poll()
    before = wakeups(threads_of(server))
    time.sleep(1.5)
    assert wakeups(threads_of(server)) == before  # not even before the first connection
    raw, _, _ = rawhttp.talk("127.0.0.1", server.port, b"GET / HTTP/1.0\r\n\r\n")
    assert raw.endswith(b"hello ")
    server.threads = threads_of(server)
    assert len(server.threads) == 3  # two workers and the loop
    time.sleep(0.3)
    before = wakeups(server.threads)
    time.sleep(2.5)
    assert wakeups(server.threads) == before  # waitress's own loop wakes every second
    with rawhttp.connect("127.0.0.1", server.port):  # a connection open: a sweep a second
        time.sleep(1.5)
        assert 1 <= wakeups(server.threads) - before <= 4


def test_stop_closes_connections_ends_threads_and_frees_the_port(server):
    port = server.port
    sock = rawhttp.connect("127.0.0.1", port)
    sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
    answer, deadline = b"", time.monotonic() + 5
    while b"hello" not in answer and time.monotonic() < deadline:  # head and body may come apart
        answer += sock.recv(1000)
    assert b"hello" in answer
    server.threads = threads_of(server)
    server.stop()
    assert rawhttp.closed_within(sock, 1.0) is not None
    sock.close()
    for thread in server.threads:
        thread.join(2)
        assert not thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    again = httpd.HttpServer(hello, "127.0.0.1", port, name="again", error_body=error_body)
    again.stop()  # never started: its socket is closed
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_stop_before_any_connection_ends_the_thread_and_frees_the_port(server):
    [thread] = threads_of(server)
    server.stop()
    thread.join(2)
    assert not thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2)


def test_stop_signals_go_to_the_main_thread(server):
    rawhttp.talk("127.0.0.1", server.port, b"GET / HTTP/1.0\r\n\r\n")
    server.threads = threads_of(server)
    assert len(server.threads) == 3
    for thread in server.threads:
        blocked = int(task_status(thread)["SigBlk"], 16)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            assert blocked & (1 << (sig - 1)), (thread.name, sig)
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == set()  # ours is as it was


def test_refused_requests_get_the_apps_error_body(server):
    raw, closed, _ = rawhttp.talk("127.0.0.1", server.port,
                                  b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n")
    [(status, headers, body)] = rawhttp.answers(raw)
    assert (status, headers["content-type"], closed) == (400, "application/json", True)
    assert json.loads(body) == {"status": 400, "message": "Content-Length is invalid"}
    assert headers["server"] == "test-httpd" and headers["connection"] == "close"


@pytest.mark.parametrize("host, family", [("localhost", socket.AF_INET), ("::1", socket.AF_INET6),
                                          ("[::1]", socket.AF_INET6)])
def test_addresses(host, family):
    made = httpd.HttpServer(hello, host, 0, name="t", error_body=error_body)
    try:
        assert made.socket.family == family
        assert made.url == (f"http://[::1]:{made.port}/" if family == socket.AF_INET6
                            else f"http://localhost:{made.port}/")
    finally:
        made.stop()


def test_a_taken_port_raises_oserror():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(OSError):
            httpd.HttpServer(hello, "127.0.0.1", taken.getsockname()[1], name="t",
                             error_body=error_body)


@pytest.mark.parametrize("grace, answered", [(5.0, True), (0.0, False)])
def test_a_stop_with_grace_lets_the_answer_under_way_go_out(grace, answered):
    """stop(grace): the request being served gets its answer, an idle keep-alive
    connection is closed at once, and nothing new is accepted; stop() cuts both."""
    serving, release = threading.Event(), threading.Event()

    def slow(environ, start_response):
        serving.set()
        release.wait(5)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        return [b"done"]

    made = httpd.HttpServer(slow, "127.0.0.1", 0, name="graceful", error_body=error_body,
                            threads=2, idle_timeout=5)
    made.start()
    idle = rawhttp.connect("127.0.0.1", made.port)
    busy = rawhttp.connect("127.0.0.1", made.port)
    try:
        busy.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert serving.wait(5)
        stopper = threading.Thread(target=made.stop, args=(grace,))
        stopper.start()
        time.sleep(0.3)  # the server is stopping: new connections are not served
        late = socket.socket()
        late.settimeout(0.5)
        try:
            late.connect(("127.0.0.1", made.port))
            late.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert late.recv(100) == b""
        except OSError:
            pass  # refused, reset or no answer: not served either way
        finally:
            late.close()
        assert rawhttp.closed_within(idle, 1.0) is not None  # an idle connection waits for none
        release.set()
        raw, _ = rawhttp.read_until_closed(busy, 5)
        stopper.join(5)
        assert not stopper.is_alive()
    finally:
        release.set()
        idle.close()
        busy.close()
    assert (raw.endswith(b"\r\n\r\ndone") and raw.startswith(b"HTTP/1.1 200")) is answered, raw
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", made.port), timeout=2)
