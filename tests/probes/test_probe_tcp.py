"""The tcp probe and the dispatcher's handling of probe: none."""

from __future__ import annotations

from helpers import probe
from peers import HangingServer, refused_port


def test_tcp_open_and_refused():
    server = HangingServer()
    try:
        assert probe(url=f"rtsp://127.0.0.1:{server.port}/x", probe="tcp").detail == \
            f"TCP {server.port} open"
    finally:
        server.close()
    assert probe(url="rtsp://127.0.0.1/x", probe="tcp", probe_port=refused_port()).reason == "refused"


def test_probe_none_reports_the_given_status():
    assert probe(url="127.0.0.9", probe="none", status="online").ok
    outcome = probe(url="127.0.0.9", probe="none")
    assert (outcome.ok, outcome.reason) == (False, "static")
