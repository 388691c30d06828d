"""Event reports from a real `sereport run`: a camera (Debian's GStreamer RTSP server) that
stops answering, and a device added with the CLI, reach a real loopback platform long before
the next regular beat; /status and /metrics count them apart from the beats."""

from __future__ import annotations

import re
import time

import pytest
import requests

import procs
from peers import GstRtspServer, Platform, refused_port
from procs import wait_for

LICENCE = "ZKZCPI000120190807142601"
INTERVAL = 30  # the regular beat: an event report is the only way to hear of a change soon


@pytest.fixture
def platform():
    peer = Platform()
    yield peer
    peer.close()


def config_text(url: str, camera: str, extra: str = "") -> str:
    return (f"dev_sno: {LICENCE}\nWEB_HEART_URL: {url}\nWEB_HEART_TIME: {INTERVAL}\n"
            f"probe_interval: 1\noffline_after: 1\noffline_beat_on_stop: false\n"
            f"devices:\n  - {{url: '{camera}', name: cam1}}\n{extra}")


@pytest.fixture
def camera():
    peer = GstRtspServer()
    yield peer
    peer.close()  # again, when the test stopped it: a no-op


def start(write_config, daemon, platform, camera, extra=""):
    """The daemon beating to the platform about one camera (cam1); its first beat arrived."""
    path = write_config(config_text(platform.url, camera.base + "/cam", extra))
    proc = daemon(path)
    wait_for(lambda: platform.arrivals, 15)
    return path, proc


def statuses(body) -> dict:
    return {sub["ep_name"]: sub["ep_status"] for sub in body.get("sub_devices", [])} \
        if isinstance(body, dict) else {}


def api_port(path: str) -> int:
    return int(re.search(r"api_port: (\d+)", open(path).read()).group(1))


def test_a_camera_that_stops_is_reported_offline_within_seconds(write_config, daemon, platform,
                                                               camera):
    path, proc = start(write_config, daemon, platform, camera)
    assert statuses(platform.arrivals[0][2]) == {"cam1": "online"}
    time.sleep(1.5)  # a probe or two on the kept connection
    camera.close()
    stopped = time.monotonic()
    got = wait_for(lambda: [a for a in platform.arrivals
                            if statuses(a[2]).get("cam1") == "offline"], 10)
    latency = got[0][0] - stopped
    print(f"camera stopped -> offline report at the platform: {latency:.2f} s")
    assert latency < INTERVAL / 3  # not the next beat: an event report
    assert len(platform.arrivals) == 2  # the first beat, then one event report
    shown = f"cam1 ({camera.base}/cam)"
    log = proc.wait_log(f"event report (device {shown} offline): 1/1 accepted")
    assert f"device {shown} is now offline" in log

    port = api_port(path)
    status = requests.get(f"http://127.0.0.1:{port}/status", timeout=5).json()
    assert status["beats"] == 1
    assert status["event_reports"]["sent"] == 1
    assert status["event_reports"]["last"]["trigger"] == f"device {shown} offline"
    metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert re.search(r'sereport_event_reports_total\{format="gateway",result="ok",'
                     r'target="[^"]+"\} 1\.0', metrics)
    assert re.search(r'sereport_reports_total\{format="gateway",result="ok",'
                     r'target="[^"]+"\} 1\.0', metrics)


def test_a_device_added_with_the_cli_is_reported_at_once(write_config, daemon, platform, camera):
    path, proc = start(write_config, daemon, platform, camera)
    added = time.monotonic()
    done = procs.run("--config", path, "devices", "add", camera.base + "/cam?ch=2",
                     "--name", "cam2")
    assert done.returncode == 0, done.stderr
    got = wait_for(lambda: [a for a in platform.arrivals if "cam2" in statuses(a[2])], 10)
    assert got[0][0] - added < INTERVAL / 3
    # probed at once: the one report says what the camera is, not "not probed yet"
    assert statuses(got[0][2]) == {"cam1": "online", "cam2": "online"}
    log = proc.wait_log("): 1/1 accepted")
    line = re.search(r"event report \((.*)\): 1/1 accepted", log).group(1)
    cam2 = f"device cam2 ({camera.base}/cam?ch=***)"
    assert sorted(line.split("; ")) == [f"{cam2} added", f"{cam2} online"]


def test_switched_off_changes_wait_for_the_beat(write_config, daemon, platform, camera):
    _, proc = start(write_config, daemon, platform, camera, "report_on_change: false\n")
    camera.close()
    proc.wait_log("is now offline")
    time.sleep(2)
    assert len(platform.arrivals) == 1
    assert "event report" not in proc.log()


def test_a_platform_that_is_down_does_not_hold_back_the_event_report(write_config, daemon,
                                                                    platform, camera):
    """Two URLs, one refusing: each beat retries it for most of the interval, while the
    healthy platform hears of the change at once."""
    down = f"http://127.0.0.1:{refused_port()}/DeviceStatus"
    path = write_config(config_text(platform.url, camera.base + "/cam").replace(
        f"WEB_HEART_URL: {platform.url}", f"WEB_HEART_URL: [{platform.url}, {down}]"))
    proc = daemon(path)
    wait_for(lambda: platform.arrivals, 15)
    time.sleep(1.5)
    camera.close()
    stopped = time.monotonic()
    got = wait_for(lambda: [a for a in platform.arrivals
                            if statuses(a[2]).get("cam1") == "offline"], 10)
    assert got[0][0] - stopped < INTERVAL / 3
    log = proc.wait_log("): 1/2 accepted")
    assert "event report to http://127.0.0.1:" in log  # the one down, logged
