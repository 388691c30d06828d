"""The systemd notify protocol against a real AF_UNIX datagram socket."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from peers import Platform
from procs import wait_for
from sereport.service.notify import Notifier

LICENCE = "ZKZCPI000120190807142601"


class NotifySocket:
    """What systemd does: a datagram socket that collects the messages."""

    def __init__(self, tmp_path, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"sereport-test-{os.getpid()}-{id(self)}"
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            path = str(tmp_path / "notify.sock")
            self.sock.bind(path)
            self.env = path
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._stop = False
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self):
        while not self._stop:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self):
        self._stop = True
        self.sock.close()


@pytest.fixture(params=[False, True], ids=["path", "abstract"])
def notify_socket(request, tmp_path):
    sock = NotifySocket(tmp_path, abstract=request.param)
    yield sock
    sock.close()


def test_notifier_messages(notify_socket):
    notifier = Notifier({"NOTIFY_SOCKET": notify_socket.env})
    notifier.ready("started")
    notifier.watchdog()
    notifier.reloading()
    notifier.stopping()
    notifier.close()
    wait_for(lambda: len(notify_socket.messages) == 4)
    ready, pet, reloading, stopping = notify_socket.messages
    assert ready == "READY=1\nSTATUS=started"
    assert pet == "WATCHDOG=1"
    first, second = reloading.split("\n")
    assert first == "RELOADING=1" and second.startswith("MONOTONIC_USEC=")
    usec = int(second.split("=")[1])
    assert abs(usec - time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000) < 5_000_000
    assert stopping == "STOPPING=1"


def test_without_notify_socket_it_is_silent():
    notifier = Notifier({})
    assert not notifier.enabled and notifier.watchdog_interval is None
    notifier.ready()
    notifier.watchdog()
    assert notifier._sock is None


def test_unreachable_socket_never_raises(tmp_path):
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    notifier.ready()
    notifier.ready()


@pytest.mark.parametrize("env, interval", [
    ({"WATCHDOG_USEC": "30000000"}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
    ({"WATCHDOG_USEC": "x"}, None),
    ({}, None),
])
def test_watchdog_interval(env, interval):
    assert Notifier(env).watchdog_interval == interval


def test_daemon_start_beat_reload_stop(notify_socket, write_config, daemon):
    platform = Platform()
    try:
        path = write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: {platform.url}\nWEB_HEART_TIME: 1\n")
        proc = daemon(path, extra_env={"NOTIFY_SOCKET": notify_socket.env, "WATCHDOG_USEC": "600000"})
        wait_for(lambda: len([m for m in notify_socket.messages if m.startswith("STATUS=beat")]) >= 2)
        write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: {platform.url}\nWEB_HEART_TIME: 0.7\n")
        wait_for(lambda: any(m.startswith("RELOADING=1") for m in notify_socket.messages))
        time.sleep(1.0)
        code, took = proc.terminate()
        assert code == 0
        wait_for(lambda: "STOPPING=1" in notify_socket.messages)
    finally:
        platform.close()
    messages = notify_socket.messages
    assert messages[0] == "READY=1\nSTATUS=started: 1 target(s), 0 device(s)"
    statuses = [m for m in messages if m.startswith("STATUS=beat")]
    assert statuses[0] == "STATUS=beat 1: 1/1 report(s) accepted; 0/0 device(s) online"
    # The watchdog is petted from the beat loop, at least every 0.3 s (half of 0.6 s).
    pets = [i for i, m in enumerate(messages) if m == "WATCHDOG=1"]
    assert len(pets) >= 5
    reload_at = next(i for i, m in enumerate(messages) if m.startswith("RELOADING=1"))
    assert messages[reload_at].split("\n")[1].startswith("MONOTONIC_USEC=")
    assert "READY=1" in messages[reload_at + 1:]
    assert messages[-1] == "STOPPING=1"
    assert messages.count("STOPPING=1") == 1


def test_pets_go_on_while_a_beat_waits_on_a_hanging_platform(notify_socket, write_config, daemon):
    """The beat is waiting on bounded work, not stuck, so it keeps petting.
    (A loop that is really stuck stops petting: tests/test_beat.py.)"""
    platform = Platform()
    platform.set("hang")
    try:
        path = write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: {platform.url}\nWEB_HEART_TIME: 3\n"
                            "offline_beat_on_stop: false\n")
        proc = daemon(path, extra_env={"NOTIFY_SOCKET": notify_socket.env, "WATCHDOG_USEC": "400000"})
        wait_for(lambda: len(platform.arrivals) >= 1)
        count = notify_socket.messages.count("WATCHDOG=1")
        time.sleep(1.0)  # the beat is waiting on a POST that hangs: the wait is bounded, so it pets
        assert notify_socket.messages.count("WATCHDOG=1") >= count + 3
        proc.terminate()
    finally:
        platform.close()
