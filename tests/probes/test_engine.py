"""The probe loop: waits, deadlines, the concurrency cap, worker threads."""

from __future__ import annotations

import os
import socket
import threading
import time

from helpers import FAST, probe
from peers import LineServer
from sereport.probes import engine
from sereport.probes.engine import READ, WRITE


def results(jobs, concurrency=10, timeout=1.0):
    return {key: (result, seconds) for key, result, seconds in
            engine.run(jobs, concurrency, timeout)}


def test_ready_and_own_deadline_give_true_and_false():
    a, b = socket.socketpair()

    def ready():
        return (yield b, WRITE, None)

    def quiet():
        started = time.monotonic()
        got = yield a, READ, started + 0.1
        return got, time.monotonic() - started

    try:
        got = results([("ready", ready()), ("quiet", quiet())])
    finally:
        a.close()
        b.close()
    assert got["ready"][0] is True
    flag, waited = got["quiet"][0]
    assert flag is False and 0.09 <= waited < 0.5


def test_probe_timeout_throws_and_a_probe_that_ignores_it_is_closed():
    a, b = socket.socketpair()
    closed = []

    def stubborn():
        try:
            while True:
                try:
                    yield a, READ, None
                except TimeoutError:
                    continue  # wants more time: not given
        finally:
            closed.append(True)

    def polite():
        yield b, READ, None

    try:
        got = results([("stubborn", stubborn()), ("polite", polite())], timeout=0.2)
    finally:
        a.close()
        b.close()
    for key in ("stubborn", "polite"):
        result, seconds = got[key]
        assert isinstance(result, TimeoutError) and 0.19 <= seconds < 0.6
    assert closed == [True]


def test_no_more_than_concurrency_run_at_once():
    running, most = [0], [0]

    def sleeper(r):
        running[0] += 1
        most[0] = max(most[0], running[0])
        try:
            yield r, READ, time.monotonic() + 0.02
        finally:
            running[0] -= 1

    pipes = [os.pipe() for _ in range(12)]
    try:
        got = results([(i, sleeper(r)) for i, (r, _) in enumerate(pipes)], concurrency=3)
    finally:
        for r, w in pipes:
            os.close(r)
            os.close(w)
    assert most[0] == 3 and len(got) == 12 and all(v[0] is None for v in got.values())


def test_a_raising_probe_and_a_bad_wait_are_results_not_crashes():
    def raises():
        raise ValueError("boom")
        yield

    def closed_socket():
        sock = socket.socket()
        sock.close()
        yield sock, READ, None

    got = results([("raises", raises()), ("closed", closed_socket())])
    assert isinstance(got["raises"][0], ValueError)
    assert isinstance(got["closed"][0], (ValueError, OSError))


def test_workers_return_raise_and_time_out():
    workers = engine.Workers("test-workers", size=2)
    stuck = threading.Event()

    def call(fn, *args):
        return (yield from workers.call(fn, *args))

    def fail():
        raise PermissionError("no")

    got = results([("value", call(lambda: 42)), ("error", call(fail)),
                   ("stuck", call(stuck.wait, 5))], timeout=0.3)
    stuck.set()
    assert got["value"][0] == 42
    assert isinstance(got["error"][0], PermissionError)
    assert isinstance(got["stuck"][0], TimeoutError) and got["stuck"][1] < 1


def test_a_host_name_is_looked_up_off_the_loop():
    server = LineServer(lambda req: b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n")
    try:
        outcome = probe(FAST, url=f"rtsp://localhost:{server.port}/cam", ip="127.0.0.1")
    finally:
        server.close()
    assert (outcome.ok, outcome.reason) == (True, "ok")
