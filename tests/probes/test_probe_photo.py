"""The photo probe: the touch file wins; without one, a TCP connect."""

from __future__ import annotations

import os
import time

from helpers import probe
from peers import HangingServer, refused_port
from sereport import probes


def settings(tmp_path, port=80):
    return probes.Settings(timeout=1, connect_timeout=0.5, photo_dir=str(tmp_path),
                           photo_port=port, photo_fresh=60)


def test_fresh_picture_is_online(tmp_path):
    (tmp_path / "127.0.0.1").touch()
    outcome = probe(settings(tmp_path, refused_port()), url="127.0.0.1")
    assert (outcome.ok, outcome.reason) == (True, "ok")


def test_stale_picture_is_offline_even_if_port_answers(tmp_path):
    seen = tmp_path / "127.0.0.1"
    seen.touch()
    old = time.time() - 600
    os.utime(seen, (old, old))
    server = HangingServer()
    try:
        outcome = probe(settings(tmp_path, server.port), url="127.0.0.1")
    finally:
        server.close()
    assert (outcome.ok, outcome.reason) == (False, "no_recent_picture")
    assert outcome.detail == "last picture 600s ago"


def test_without_touch_file_tcp_decides(tmp_path):
    server = HangingServer()
    try:
        up = probe(settings(tmp_path, server.port), url="127.0.0.1")
    finally:
        server.close()
    assert (up.ok, up.detail) == (True, f"TCP {server.port} open")
    down = probe(settings(tmp_path, refused_port()), url="127.0.0.1")
    assert (down.ok, down.reason) == (False, "refused")


def test_device_probe_port_wins(tmp_path):
    server = HangingServer()
    try:
        outcome = probe(settings(tmp_path, refused_port()), url="127.0.0.1", probe_port=server.port)
    finally:
        server.close()
    assert outcome.ok
