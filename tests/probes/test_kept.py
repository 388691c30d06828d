"""RTSP control connections kept from one probe cycle to the next."""

from __future__ import annotations

import re

import pytest

from helpers import device
from peers import GstRtspServer, LineServer, StallingRtspCamera
from sereport import probes
from sereport.probes.kept import Kept

SETTINGS = dict(timeout=1.0, connect_timeout=0.5)


def answer_every(request):
    cseq = re.search(r"CSeq: (\d+)", request).group(1)
    return f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n\r\n".encode()


def cycles(url, count, kept, **fields):
    settings = probes.Settings(**SETTINGS, kept=kept)
    made = device(url=url, **fields)
    return [probes.run_all([made], settings, 10)[0][1] for _ in range(count)]


def three_cycles(keep: bool, close_after: bool = False):
    """Three probes of one camera: [(ok, reason)], connections accepted, CSeqs asked."""
    server = LineServer(answer_every, close_after=close_after)
    kept = Kept(10) if keep else None
    try:
        outcomes = cycles(f"rtsp://127.0.0.1:{server.port}/cam", 3, kept)
    finally:
        if kept is not None:
            kept.close()
        server.close()
    cseqs = [re.search(r"CSeq: (\d+)", r).group(1) for r in server.requests]
    return [(o.ok, o.reason) for o in outcomes], server.accepted, cseqs


@pytest.mark.parametrize("keep, close_after, accepted, cseqs", [
    (True, False, 1, ["1", "2", "3"]),  # one connection serves every cycle, CSeq rising
    (False, False, 3, ["1", "1", "1"]),  # not kept: every probe connects
    (True, True, 3, ["1", "1", "1"]),  # the camera closes after each answer: a new one each time
])
def test_connections_kept_or_not(keep, close_after, accepted, cseqs):
    outcomes, got_accepted, got_cseqs = three_cycles(keep, close_after)
    assert outcomes == [(True, "ok")] * 3
    assert (got_accepted, got_cseqs) == (accepted, cseqs)


def test_a_kept_connection_gone_quiet_falls_back_to_a_new_one_in_time():
    """The camera answers only a connection's first request: on the kept one it stays silent."""
    server = LineServer(lambda r: answer_every(r) if "CSeq: 1\r\n" in r else b"")
    kept = Kept(10)
    try:
        settings = probes.Settings(**SETTINGS, kept=kept)
        made = device(url=f"rtsp://127.0.0.1:{server.port}/cam")
        first = probes.run_all([made], settings, 10)[0]
        second = probes.run_all([made], settings, 10)[0]
    finally:
        kept.close()
        server.close()
    assert first[1].ok and second[1].ok and second[1].reason == "ok"
    assert 0.45 <= second[2] < 1.0  # half the probe timeout on the quiet one, then a new one
    assert server.accepted == 2


def test_a_dead_camera_on_a_kept_connection_is_a_failed_probe_within_the_timeout():
    answering = [True]
    server = LineServer(lambda r: answer_every(r) if answering[0] else b"")
    kept = Kept(10)
    try:
        settings = probes.Settings(**SETTINGS, kept=kept)
        made = device(url=f"rtsp://127.0.0.1:{server.port}/cam")
        assert probes.run_all([made], settings, 10)[0][1].ok
        answering[0] = False
        _, outcome, seconds = probes.run_all([made], settings, 10)[0]
    finally:
        kept.close()
        server.close()
    assert (outcome.ok, outcome.reason) == (False, "timeout") and seconds < 1.3


def test_a_camera_left_hanging_on_describe_is_online_and_its_connection_not_kept():
    """An answer to the unanswered DESCRIBE may still come: that connection is never reused."""
    camera = StallingRtspCamera()
    kept = Kept(10)
    try:
        outcomes = cycles(f"rtsp://admin:pw@127.0.0.1:{camera.port}/cam", 2, kept)
        assert len(kept) == 0
    finally:
        kept.close()
        camera.close()
    assert [(o.ok, o.reason) for o in outcomes] == [(True, "describe_timeout")] * 2
    assert camera.accepted == 2


def test_limit_and_retain_and_close():
    server = LineServer(answer_every)
    kept = Kept(1)
    try:
        settings = probes.Settings(**SETTINGS, kept=kept)
        a = device(url=f"rtsp://127.0.0.1:{server.port}/a")
        b = device(url=f"rtsp://127.0.0.1:{server.port}/b")
        probes.run_all([a, b], settings, 10)
        assert len(kept) == 1  # the limit
        kept.retain({"some-other-device"})
        assert len(kept) == 0
        probes.run_all([a], settings, 10)
        assert len(kept) == 1
        kept.close()
        probes.run_all([a], settings, 10)
        assert len(kept) == 0  # closed for good
    finally:
        kept.close()
        server.close()


@pytest.fixture(scope="module")
def gst():
    server = GstRtspServer("digest", "admin", "pw")
    yield server
    server.close()


def test_real_server_over_a_kept_connection_with_digest(gst):
    kept = Kept(10)
    try:
        outcomes = cycles(f"rtsp://admin:pw@127.0.0.1:{gst.port}/cam", 3, kept)
        assert len(kept) == 1
        wrong = cycles(f"rtsp://admin:nope@127.0.0.1:{gst.port}/cam", 2, kept)
    finally:
        kept.close()
    assert [(o.ok, o.reason) for o in outcomes] == [(True, "ok")] * 3
    assert [(o.ok, o.reason) for o in wrong] == [(True, "auth_failed")] * 2
