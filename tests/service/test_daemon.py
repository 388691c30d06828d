"""`sereport run` as a real process: reload, platform faults, stop."""

from __future__ import annotations

import os
import signal
import time

import pytest

from peers import Platform
from procs import wait_for

LICENCE = "ZKZCPI000120190807142601"


@pytest.fixture
def platform():
    peer = Platform()
    yield peer
    peer.close()


def config_text(url, interval=1, extra=""):
    return f"dev_sno: {LICENCE}\nWEB_HEART_URL: {url}\nWEB_HEART_TIME: {interval}\n{extra}"


def arrivals(peer, count, timeout=15):
    return wait_for(lambda: len(peer.arrivals) >= count and peer.arrivals, timeout)


def phase_errors(times, interval):
    """How far each time is from the grid through the first one, in seconds."""
    errors = []
    for t in times:
        offset = (t - times[0]) % interval
        errors.append(min(offset, interval - offset))
    return errors


# --- reload ---------------------------------------------------------------------

def test_valid_edit_takes_effect_on_a_new_grid(write_config, daemon, platform):
    other = Platform()
    try:
        path = write_config(config_text(platform.url, 1))
        proc = daemon(path)
        arrivals(platform, 2)
        write_config(config_text(other.url, 0.5))
        proc.wait_log("config reloaded (file changed)")
        got = wait_for(lambda: len(other.arrivals) >= 5 and other.arrivals, 10)
        times = [a[0] for a in got]
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert all(abs(g - 0.5) < 0.2 for g in gaps), gaps
        log = proc.log()
        assert "WEB_HEART_TIME 1 -> 0.5" in log and other.url in log
        before = len(platform.arrivals)
        time.sleep(1.2)
        assert len(platform.arrivals) == before  # the old target gets nothing more
    finally:
        other.close()
    assert proc.terminate()[0] == 0


@pytest.mark.parametrize("breakage, message", [
    ("formats: xml\n", "formats: ['xml'] is not allowed"),
    ("delete", "cannot read: No such file or directory"),
])
def test_bad_edit_keeps_the_old_config_beating(write_config, daemon, platform, breakage, message):
    path = write_config(config_text(platform.url, 0.5))
    proc = daemon(path)
    arrivals(platform, 2)
    if breakage == "delete":
        os.remove(path)
    else:
        with open(path, "a") as handle:
            handle.write(breakage)
    proc.wait_log("config not reloaded")
    count = len(platform.arrivals)
    time.sleep(2.2)
    assert len(platform.arrivals) >= count + 3  # still beating with the old config
    log = proc.log()
    assert log.count(message) == 1, log  # logged once, not every check
    assert "the running config stays in force" in log
    write_config(config_text(platform.url, 0.5))
    proc.wait_log("is valid again")
    assert proc.terminate()[0] == 0


def test_sighup_reloads(write_config, daemon, platform):
    path = write_config(config_text(platform.url, 1))
    proc = daemon(path)
    arrivals(platform, 1)
    # An edit the file watch cannot see (same inode, size and mtime): only SIGHUP finds it.
    stat = os.stat(path)
    text = open(path).read().replace("WEB_HEART_TIME: 1", "WEB_HEART_TIME: 2")
    with open(path, "r+") as handle:
        handle.write(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    time.sleep(1.5)
    assert "config reloaded" not in proc.log()
    proc.proc.send_signal(signal.SIGHUP)
    log = proc.wait_log("config reloaded (SIGHUP): WEB_HEART_TIME 1 -> 2")
    proc.proc.send_signal(signal.SIGHUP)
    proc.wait_log("SIGHUP: " + path + " read again; no value in force changed")
    assert log
    assert proc.terminate()[0] == 0


# --- the platform misbehaves ------------------------------------------------------

def test_beats_keep_the_grid_through_platform_faults_and_recover(write_config, daemon, platform):
    path = write_config(config_text(platform.url, 1, "offline_beat_on_stop: false\n"
                                                      "extensions: [beat_seq]\n"))
    proc = daemon(path)
    arrivals(platform, 3)
    refused_until = 0.0
    for mode in ("hang", "error", "slow", "refuse", "ok", "error", "ok", "hang", "ok"):
        if platform.mode == "refuse":
            refused_until = time.monotonic()
        platform.set(mode)
        time.sleep(2.5 if mode != "ok" else 1.5)
    # Each beat's first POST started on the grid of the first beat, however the
    # beats before it had fared: no drift, no burst. (The beat under way when the
    # platform stopped refusing is left out: its first try was refused and never
    # arrived, so what arrived of it was a retry.)
    starts = [t for t in platform.first_tries() if not 0 <= t - refused_until < 1.0]
    errors = phase_errors(starts, 1.0)
    assert max(errors) < 0.2, errors
    seqs = [b["beat_seq"] for b in platform.bodies() if isinstance(b, dict)]
    assert seqs == sorted(seqs)  # never an old heartbeat replayed after a newer one
    code, took = proc.terminate()
    assert code == 0
    log = proc.log()
    assert "reachable again after" in log and "down since" in log
    assert "no answer" in log and "HTTP 500" in log and "connection refused" in log
    # Failures were retried within their beat while time remained.
    assert "after 2 attempts" in log or "after 3 attempts" in log


def test_platform_that_hangs_never_costs_a_beat(write_config, daemon, platform):
    platform.set("hang")
    path = write_config(config_text(platform.url, 1, "offline_beat_on_stop: false\n"
                                                      "extensions: [beat_seq]\n"))
    proc = daemon(path)
    wait_for(lambda: len(platform.first_tries()) >= 5, 10)
    starts = platform.first_tries()
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(abs(g - 1.0) < 0.2 for g in gaps), gaps
    assert "skipped" not in proc.log()
    proc.terminate()


# --- stop ---------------------------------------------------------------------------

def test_sigterm_mid_request_exits_within_2s(write_config, daemon, platform):
    platform.set("hang")
    path = write_config(config_text(platform.url, 10))
    proc = daemon(path)
    arrivals(platform, 1)  # a POST is now hanging
    time.sleep(0.3)
    code, took = proc.terminate()
    assert code == 0 and took < 2.0, took
    assert "STOPPING" not in proc.log()  # no systemd here: the notify calls are silent


def test_offline_beat_on_stop(write_config, daemon, platform):
    path = write_config(config_text(platform.url, 1, "formats: both\n"))
    proc = daemon(path)
    arrivals(platform, 2)
    code, took = proc.terminate()
    assert code == 0 and took < 2.0
    last = platform.bodies()[-1]
    assert last["gateway_status"] == "offline" and last["dev_sno"] == LICENCE
    assert all(b.get("gateway_status", "online") == "online" for b in platform.bodies()[:-1])
    assert "offline beat to " + platform.url + ": HTTP 200 OK" in proc.log()


def test_a_stop_while_the_first_probe_cycle_is_awaited_starts_nothing(write_config, daemon,
                                                                       platform):
    """The first beat waits for the first probe cycle (a camera that never answers: the
    probe timeout); a SIGTERM then ends the wait and the process, with no API, no beat, and
    no offline report calling an unprobed camera offline.  (It waited for the cycle, then
    started the API and sent READY=1 before it stopped.)"""
    from peers import HangingServer

    camera = HangingServer()
    try:
        path = write_config(config_text(platform.url, 1, "probe_timeout: 10\ndevices:\n"
                                        f"  - url: rtsp://127.0.0.1:{camera.port}/x\n"))
        proc = daemon(path)
        proc.wait_log("device(s) probed every")
        wait_for(lambda: camera.conns, 10)  # the first cycle is under way
        code, _ = proc.terminate()
        log = proc.log()
        assert code == 0, log
        assert "local API on" not in log and "stopped after 0 beat(s)" in log
        assert "no offline report: stopped before the devices were first probed" in log
        assert platform.arrivals == []
    finally:
        camera.close()


def test_no_offline_beat_when_switched_off(write_config, daemon, platform):
    path = write_config(config_text(platform.url, 1, "offline_beat_on_stop: false\n"))
    proc = daemon(path)
    arrivals(platform, 1)
    proc.terminate()
    assert all(b["gateway_status"] == "online" for b in platform.bodies())


def test_changed_keys_show_settings_and_hide_secrets(write_config):
    from sereport import config as config_module
    from sereport.service.daemon import changed_keys

    old = config_module.load(write_config(f"dev_sno: {LICENCE}\nWEB_HEART_TIME: 2\n"))
    new = config_module.load(write_config("dev_sno: OTHERLICENCE99\nWEB_HEART_TIME: 5\n"
                                          "hmac_secret: s3cret\nformats: both\n", name="b.yaml"))
    shown = "; ".join(changed_keys(old, new))
    assert "WEB_HEART_TIME 2 -> 5" in shown and "formats ('gateway',) -> ('gateway', 'media')" in shown
    assert "dev_sno" in shown and "hmac_secret" in shown
    assert "OTHERLICENCE99" not in shown and "s3cret" not in shown and "overridden" not in shown


def test_the_last_device_removed_during_a_probe_cycle_is_forgotten(write_config, platform):
    """The probe loop goes quiet with no device only after a cycle has seen none: a device
    removed while a cycle probes it leaves neither its state nor its status.json line."""
    import threading

    from peers import HangingServer
    from sereport import config
    from sereport.devices.monitor import read_status
    from sereport.devices.registry import Registry
    from sereport.service.daemon import Daemon

    camera = HangingServer()  # a probe of it lasts probe_timeout
    cfg = config.load(write_config(config_text(platform.url, 1, "probe_timeout: 1\n")))
    device = Registry(cfg.registry_path).add({"url": f"rtsp://127.0.0.1:{camera.port}/x"})
    daemon = Daemon(cfg)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    monitor = daemon.reporter.monitor
    try:
        wait_for(lambda: monitor.cycles == 1 and len(camera.conns) >= 2, 10)  # the 2nd cycle
        Registry(cfg.registry_path).remove(device.id)  # while the cycle waits for the camera
        wait_for(lambda: monitor.cycles >= 2, 10)
        forgotten = wait_for(lambda: monitor.states() == {} and read_status(cfg) == {}, 5)
        assert forgotten, monitor.states()
    finally:
        daemon.stop.set()
        daemon.wake.set()
        thread.join(5)
        camera.close()
