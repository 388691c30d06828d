"""The tests' own safety net: nothing they start may send off loopback."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from procs import env


def test_guard_refuses_off_loopback_in_process():
    with socket.socket() as s, pytest.raises(PermissionError, match="only loopback"):
        s.connect(("192.0.2.1", 554))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(PermissionError):
        s.sendto(b"x", ("198.51.100.1", 5060))


def test_guard_allows_loopback():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"x", ("127.0.0.1", 9))


def test_guard_is_active_in_subprocesses():
    code = "import socket; socket.socket().connect(('192.0.2.1', 554))"
    done = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True,
                          timeout=10)
    assert done.returncode != 0 and "test guard" in done.stderr


def test_guard_stays_on_outside_the_tests_own_namespaces():
    """The guard lets a process send anywhere only inside a namespace tests/netns.py made
    (named sereport-test-...): this test process and its children are in none."""
    import sitecustomize

    assert sitecustomize._ISOLATED is False
    code = "import sitecustomize; print(sitecustomize._ISOLATED)"
    done = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True,
                          text=True, timeout=10)
    assert done.stdout.strip() == "False"
