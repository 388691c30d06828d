from __future__ import annotations

import json
import logging
import time

import pytest

from peers import HangingServer, refused_port
from sereport import config, probes
from sereport.devices.monitor import DeviceState, Monitor, read_status, settle
from sereport.devices.registry import Registry

LICENCE = "ZKZCPI000120190807142601"


def cfg_with(write_config, extra=""):
    return config.load(write_config(f"dev_sno: {LICENCE}\n{extra}"))


@pytest.fixture
def cfg(write_config):
    return cfg_with(write_config, "offline_after: 2\nonline_after: 2\n")


def run_sequence(cfg, oks):
    state, statuses = DeviceState(), []
    for ok in oks:
        state = settle(state, probes.Outcome(ok, "ok" if ok else "timeout"), cfg, time.time(), 0.1)
        statuses.append(state.status)
    return statuses


def test_first_probe_decides(cfg):
    assert run_sequence(cfg, [True]) == ["online"]
    assert run_sequence(cfg, [False]) == ["offline"]


def test_one_lost_probe_does_not_flap(cfg):
    assert run_sequence(cfg, [True, False, True, False, True]) == ["online"] * 5


def test_offline_after_n_and_back_after_m(cfg):
    assert run_sequence(cfg, [True, False, False, True, True, False]) == [
        "online", "online", "offline", "offline", "online", "online"]


def test_default_hysteresis(write_config):
    cfg = cfg_with(write_config)  # offline_after 2, online_after 1
    assert run_sequence(cfg, [True, False, False, True]) == ["online", "online", "offline", "online"]


def test_state_keeps_reason_time_and_counts(cfg):
    state = settle(DeviceState(), probes.Outcome(False, "refused", "connection refused"), cfg, 123.0, 0.25)
    assert (state.reason, state.detail, state.checked_at, state.duration, state.fails) == (
        "refused", "connection refused", 123.0, 0.25, 1)


def test_cycle_of_200_devices_half_hanging_ends_in_about_one_timeout(write_config):
    """Half the devices accept and never answer; half refuse."""
    hanging = HangingServer()
    try:
        lines = []
        for i in range(200):
            port = hanging.port if i % 2 else refused_port()
            lines.append(f"  - {{url: 'rtsp://127.0.0.1:{port}/cam{i}'}}")
        cfg = cfg_with(write_config, "probe_timeout: 1\nprobe_connect_timeout: 0.5\ndevices:\n"
                       + "\n".join(lines) + "\n")
        monitor = Monitor(cfg, Registry(cfg.registry_path, cfg.devices))
        started = time.monotonic()
        states = monitor.cycle()
        took = time.monotonic() - started
    finally:
        hanging.close()
    reasons = sorted({s.reason for s in states.values()})
    assert len(states) == 200 and reasons == ["refused", "timeout"]
    assert sum(s.reason == "timeout" for s in states.values()) == 100
    assert took < 1.5 * cfg.probe_timeout, took


def test_credentials_never_in_log_lines(write_config, caplog):
    port = refused_port()
    cfg = cfg_with(write_config, f"""devices:
  - {{url: "rtsp://admin:S3cretPw@127.0.0.1:{port}/cam?token=T0ken", name: door}}
  - {{url: "rtsp://127.0.0.1:{port}/x", username: admin, password: S3cretPw}}
""")
    monitor = Monitor(cfg, Registry(cfg.registry_path, cfg.devices))
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            monitor.cycle()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "door (rtsp://admin:***@127.0.0.1" in text and "refused" in text
    assert "S3cretPw" not in text and "T0ken" not in text
    status = (cfg.runtime_dir + "/status.json")
    assert "S3cretPw" not in open(status).read()


def test_transitions_are_logged_once(write_config, caplog):
    server = HangingServer()
    cfg = cfg_with(write_config, f"offline_after: 1\ndevices:\n  - {{url: 'rtsp://127.0.0.1:{server.port}/x', probe: tcp}}\n")
    monitor = Monitor(cfg, Registry(cfg.registry_path, cfg.devices))
    with caplog.at_level(logging.INFO, logger="sereport.devices.monitor"):
        monitor.cycle()
        monitor.cycle()
        server.close()
        monitor.cycle()
        monitor.cycle()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "is online (ok: TCP" in messages[0]
    assert "is now offline (refused" in messages[1] or "is now offline (reset" in messages[1]


def test_status_file_and_statuses(write_config):
    cfg = cfg_with(write_config, f"devices:\n  - {{url: 'rtsp://127.0.0.1:{refused_port()}/x', name: a}}\n"
                                 "  - {url: '127.0.0.7', probe: none, status: online}\n")
    monitor = Monitor(cfg, Registry(cfg.registry_path, cfg.devices))
    devices = monitor.registry.devices()
    assert [s for _, s in monitor.statuses(devices)] == ["offline", "offline"]  # not probed yet
    monitor.cycle()
    assert [s for _, s in monitor.statuses(devices)] == ["offline", "online"]
    saved = read_status(cfg)
    assert saved[devices[0].id].reason == "refused" and saved[devices[1].id].reason == "static"
    raw = json.load(open(cfg.runtime_dir + "/status.json"))
    assert raw[devices[0].id]["probe"] == "rtsp"


def test_unwritable_runtime_dir_is_a_warning_once(write_config, tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cfg = cfg_with(write_config, f"runtime_dir: {blocker}/run\n")
    monitor = Monitor(cfg, Registry(cfg.registry_path, cfg.devices))
    with caplog.at_level(logging.WARNING):
        monitor.cycle()
        monitor.cycle()
    assert len([r for r in caplog.records if "status file" in r.getMessage()]) == 1


def test_registry_changes_are_picked_up_between_cycles(write_config):
    cfg = cfg_with(write_config)
    registry = Registry(cfg.registry_path, cfg.devices)
    monitor = Monitor(cfg, registry)
    assert monitor.cycle() == {}
    added = registry.add({"url": "127.0.0.8", "probe": "none", "status": "online"})
    states = monitor.cycle()
    assert states[added.id].status == "online"


def test_status_file_not_rewritten_when_nothing_changed(write_config):
    import os
    cfg = cfg_with(write_config)
    monitor = Monitor(cfg, Registry(cfg.registry_path, cfg.devices))
    monitor.cycle()
    path = cfg.runtime_dir + "/status.json"
    first = os.stat(path).st_ino
    monitor.cycle()
    assert os.stat(path).st_ino == first  # the same file: not replaced


def test_status_file_rewritten_when_a_result_changes_else_every_status_every(
        write_config, monkeypatch):
    import os

    from sereport.devices import monitor as monitor_module

    monkeypatch.setattr(monitor_module, "STATUS_EVERY", 0.3)
    import socket

    listener = socket.create_server(("127.0.0.1", 0))  # the kernel accepts: the tcp probe is ok
    port = listener.getsockname()[1]
    cfg = cfg_with(write_config, f"probe_timeout: 0.2\nprobe_connect_timeout: 0.2\n"
                                 f"devices:\n  - {{url: 'rtsp://127.0.0.1:{port}/x', probe: tcp}}\n")
    monitor = Monitor(cfg, Registry(cfg.registry_path, cfg.devices))
    path = cfg.runtime_dir + "/status.json"
    try:
        monitor.cycle()
        first = (os.stat(path).st_mtime_ns, json.load(open(path)))
        time.sleep(0.01)
        monitor.cycle()  # the same result: the file stays
        assert os.stat(path).st_mtime_ns == first[0]
        time.sleep(0.35)
        monitor.cycle()  # the same result, but STATUS_EVERY has passed: fresh probe times
        again = json.load(open(path))
        assert next(iter(again.values()))["checked_at"] > next(iter(first[1].values()))["checked_at"]
    finally:
        listener.close()
    monitor.cycle()  # refused now: a changed result is written at once
    assert next(iter(json.load(open(path)).values()))["reason"] == "refused"


def test_kept_connections_follow_the_config_and_the_devices(write_config):
    from peers import LineServer

    server = LineServer(lambda r: b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n")
    try:
        device_line = f"devices:\n  - {{url: 'rtsp://127.0.0.1:{server.port}/a'}}\n"
        cfg = cfg_with(write_config, device_line)
        monitor = Monitor(cfg, Registry(cfg.registry_path, cfg.devices))
        monitor.cycle()
        monitor.cycle()
        assert server.accepted == 1 and len(monitor.kept) == 1
        other = cfg_with(write_config, device_line.replace("/a'", "/b'"))
        monitor.registry = Registry(other.registry_path, other.devices)
        monitor.cycle()  # /a is gone: its connection is closed, /b's is kept
        assert server.accepted == 2 and len(monitor.kept) == 1
        monitor.reconfigure(cfg_with(write_config, "probe_keep_connections: false\n" + device_line))
        assert len(monitor.kept) == 0
        monitor.cycle()
        monitor.cycle()
        assert server.accepted == 4 and len(monitor.kept) == 0
        monitor.reconfigure(cfg)
        monitor.cycle()
        monitor.close()
        assert len(monitor.kept) == 0
    finally:
        server.close()


def test_devices_sharing_an_ip_are_warned_about_once(write_config, caplog):
    cfg = config.load(write_config(f"""
        dev_sno: X
        probe_timeout: 0.3
        devices:
          - {{url: "rtsp://127.0.0.9:{refused_port()}/ch1", name: one}}
          - {{url: "rtsp://127.0.0.9:{refused_port()}/ch2", name: two}}
          - {{url: "127.0.0.8", probe: none}}
    """))
    monitor = Monitor(cfg, Registry(cfg.registry_path, cfg.devices, cfg.path))
    with caplog.at_level(logging.WARNING, logger="sereport.devices.monitor"):
        monitor.cycle()
        monitor.cycle()
    shared = [r.getMessage() for r in caplog.records if "share the IP" in r.getMessage()]
    assert len(shared) == 1, shared
    assert "2 devices share the IP 127.0.0.9" in shared[0] and "one (" in shared[0]
    assert "127.0.0.8" not in shared[0]


def test_listed_status_is_the_reported_one(write_config):
    from sereport.devices.monitor import describe

    cfg = config.load(write_config("dev_sno: X\ndevices:\n  - {url: /etc/hostname}\n"
                                   "  - {url: 127.0.0.8, probe: none, status: online}\n"))
    registry = Registry(cfg.registry_path, cfg.devices, cfg.path)
    monitor = Monitor(cfg, registry)
    states = monitor.cycle()
    probed, static = cfg.devices
    assert describe(probed, registry, states.get(probed.id))["status"] == "online"  # not the record's
    assert describe(static, registry, states.get(static.id))["status"] == "online"
    assert describe(probed, registry, None)["status"] == "offline"  # not probed yet: what a beat says


def test_status_file_never_goes_into_a_directory_of_another_user(write_config, tmp_path, caplog):
    import os

    from peers import need

    need(os.geteuid() == 0, "root (to make a directory another user owns)")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)  # nobody's, made before the reporter came
    cfg = cfg_with(write_config, f"runtime_dir: {theirs}\ndevices:\n  - {{url: /etc/hostname}}\n")
    monitor = Monitor(cfg, Registry(cfg.registry_path, cfg.devices))
    with caplog.at_level(logging.WARNING):
        monitor.cycle()
    assert list(theirs.iterdir()) == []
    assert any("not a directory of this user's" in r.getMessage() for r in caplog.records)


def test_a_shared_ip_warning_stays_one_short_line(write_config, caplog):
    port = refused_port()
    channels = "".join(f"  - {{url: 'rtsp://127.0.0.9:{port}/ch{i}', probe: none}}\n" for i in range(64))
    cfg = config.load(write_config(f"dev_sno: X\ndevices:\n{channels}"))
    monitor = Monitor(cfg, Registry(cfg.registry_path, cfg.devices, cfg.path))
    with caplog.at_level(logging.WARNING, logger="sereport.devices.monitor"):
        monitor.cycle()
    [said] = [r.getMessage() for r in caplog.records if "share the IP" in r.getMessage()]
    assert "64 devices share the IP 127.0.0.9" in said and "and 61 more" in said
    assert len(said) < 600


def test_force_offline_is_a_change_of_state_logged_once(write_config, tmp_path, caplog):
    """An ONVIF Bye (sereport.devices.listen): offline at once, as a failed probe past
    offline_after leaves it, then the next probe settles it again."""
    video = tmp_path / "cam.mp4"
    video.write_bytes(b"x")
    cfg = cfg_with(write_config, f"offline_after: 3\ndevices:\n  - url: {video}\n")
    monitor = Monitor(cfg, Registry(cfg.registry_path, cfg.devices))
    device = cfg.devices[0]
    told = []
    monitor.on_change = told.append  # what triggers an event report
    assert monitor.force_offline(device.id, "bye") is True  # not probed yet: offline at once
    assert told == []  # an unprobed device is reported offline already
    monitor.cycle()
    assert monitor.states()[device.id].status == "online"
    assert told == [f"device {device.shown} online"]  # its first probe: a change reported
    told.clear()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sereport.devices.monitor"):
        assert monitor.force_offline(device.id, "bye", "said Bye (WS-Discovery) from 192.0.2.2")
        assert not monitor.force_offline(device.id, "bye")  # already offline: nothing to say
        assert not monitor.force_offline("95274d2c-0941-4d96-b032-ab200f81362c", "bye")
    state = monitor.states()[device.id]
    assert (state.status, state.reason, state.fails, state.successes) == ("offline", "bye", 3, 0)
    assert [r.getMessage() for r in caplog.records] == [
        f"device {device.shown} is now offline (bye: said Bye (WS-Discovery) from 192.0.2.2)"]
    assert told == [f"device {device.shown} offline"]  # once, like a probe cycle's change
    assert read_status(cfg)[device.id].reason == "bye"  # devices list/show see it at once
    monitor.cycle()  # online_after 1: the next good probe brings it back
    assert monitor.states()[device.id].status == "online"


def test_idle_only_once_a_cycle_has_seen_that_there_is_no_device(write_config):
    """The probe loop sleeps while ``idle()``: never before a cycle has seen the device set
    empty (the last device's state, kept connection and status.json line must go first)."""
    cfg = cfg_with(write_config)
    monitor = Monitor(cfg, Registry(cfg.registry_path, cfg.devices))
    woken = []
    monitor.on_reconfigured = lambda: woken.append(1)
    assert not monitor.idle()  # no cycle yet
    monitor.cycle()
    assert monitor.idle()
    device = monitor.registry.add({"url": "127.0.0.9", "probe": "none", "status": "online"})
    assert not monitor.idle()
    monitor.cycle()
    assert not monitor.idle() and list(read_status(cfg)) == [device.id]
    monitor.registry.remove(device.id)
    assert not monitor.idle()  # the last cycle still saw it
    monitor.cycle()
    assert monitor.idle() and monitor.states() == {} and read_status(cfg) == {}
    monitor.reconfigure(cfg)  # runtime_dir may have moved: a cycle must look again
    assert woken == [1] and not monitor.idle()
