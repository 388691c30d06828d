"""`sereport discover` and the daemon's onvif_listen against real WS-Discovery peers:
cameras published by the WSDiscovery package, and a hostile peer of our own, all in
network namespaces the tests make (tests/netns.py), so no packet leaves them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import procs
from netns import Net, need_namespaces
from sereport.devices.discover import MAX_DEVICES, device_id

PEERS = Path(__file__).parent.parent / "peers_bin"
FRONT = "urn:uuid:11111111-2222-4333-8444-555555555555"
BACK = "urn:uuid:AAAAAAAA-2222-4333-8444-555555555555"
SCOPES = ("onvif://www.onvif.org/hardware/IPC-HFW2431", "onvif://www.onvif.org/location/city/Shenzhen")


@pytest.fixture
def net():
    need_namespaces()
    pytest.importorskip("wsdiscovery", reason="the WSDiscovery package (pip install -e '.[test]')")
    made = Net()
    started: list[subprocess.Popen] = []
    made.started = started
    yield made
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    made.close()


def start_peer(net: Net, ns: str, *argv: str) -> subprocess.Popen:
    """A peer script under this Python, in namespace ns; returns once it said ready."""
    proc = subprocess.Popen(net.command(ns, [sys.executable, *argv]), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=procs.env())
    net.started.append(proc)
    line = proc.stdout.readline()
    assert line.strip() == "ready", proc.stderr.read() if proc.poll() is not None else line
    return proc


def camera(net: Net, epr: str, ip: str, name: str, http: bool = False) -> subprocess.Popen:
    args = [str(PEERS / "onvif_camera.py"), epr, f"http://{ip}:8080/onvif/device_service",
            f"onvif://www.onvif.org/name/{name}", *SCOPES]
    if http:
        args += ["--http", f"{ip}:8080"]
    return start_peer(net, net.cam, *args)


def discover(net: Net, config: str, *args: str, timeout: float = 1.5):
    argv = procs.command() + ["discover", "--config", config, "--timeout", str(timeout), *args]
    started = time.monotonic()
    done = subprocess.run(net.command(net.box, argv), capture_output=True, text=True,
                          timeout=timeout + 20, env=procs.env())
    return done, time.monotonic() - started


def test_two_cameras_and_one_silent_interface(net, write_config):
    camera(net, FRONT, "192.0.2.2", "Front%20Door")
    camera(net, BACK, "192.0.2.3", "Back")
    done, _ = discover(net, write_config(), "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["ip"], r["name"], r["hardware"], r["location"], r["service_url"]) for r in rows] == [
        ("192.0.2.2", "Front Door", "IPC-HFW2431", "city/Shenzhen",
         "http://192.0.2.2:8080/onvif/device_service"),
        ("192.0.2.3", "Back", "IPC-HFW2431", "city/Shenzhen",
         "http://192.0.2.3:8080/onvif/device_service")]
    assert [r["registered"] for r in rows] == [False, False]
    assert [r["id"] for r in rows] == [device_id(FRONT), device_id(BACK)]
    # Both interfaces were probed; the silent one is named with its zero.
    assert "2 ONVIF device(s) answered within 1.5s on cam0 (2), quiet0 (0)" in done.stderr

    table, _ = discover(net, write_config())
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["IP", "NAME", "HARDWARE", "LOCATION", "SERVICE", "URL",
                                "REGISTERED"]
    assert lines[1].startswith("192.0.2.2  Front Door") and lines[1].endswith("no")

    quiet, _ = discover(net, write_config(), "--interface", "quiet0", "--json")
    assert quiet.returncode == 0 and json.loads(quiet.stdout) == []
    assert "0 ONVIF device(s) answered within 1.5s on quiet0 (0)" in quiet.stderr

    wrong, _ = discover(net, write_config(), "--interface", "eth9")
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert wrong.stderr.strip() == ("sereport discover: --interface eth9: not an interface that "
                                    "is up, has an IPv4 address and can multicast; allowed: "
                                    "cam0, quiet0")


def test_add_twice_adds_nothing_twice(net, write_config):
    camera(net, FRONT, "192.0.2.2", "Front%20Door")
    camera(net, BACK, "192.0.2.3", "Back")
    config = write_config()
    first, _ = discover(net, config, "--add")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        f"added {device_id(FRONT)} Front Door (rtsp://192.0.2.2/)",
        f"added {device_id(BACK)} Back (rtsp://192.0.2.3/)"]
    assert "2 added, 0 already registered" in first.stderr
    registry = Path(config).parent / "state_dir" / "devices.json"
    stored = registry.read_bytes()
    devices = json.loads(stored)["devices"]
    assert [(d["id"], d["url"], d["name"], d["probe"], d["probe_port"]) for d in devices] == [
        (device_id(FRONT), "rtsp://192.0.2.2/", "Front Door", "onvif", 8080),
        (device_id(BACK), "rtsp://192.0.2.3/", "Back", "onvif", 8080)]

    second, _ = discover(net, config, "--add", "--json")
    assert second.returncode == 0, second.stderr
    assert "0 added, 2 already registered" in second.stderr
    assert [r["registered_as"] for r in json.loads(second.stdout)] == [
        "Front Door (rtsp://192.0.2.2/)", "Back (rtsp://192.0.2.3/)"]
    assert registry.read_bytes() == stored  # not even rewritten

    listed = procs.run("devices", "list", "--json", "--config", config)
    assert [d["probe"] for d in json.loads(listed.stdout)] == ["onvif", "onvif"]


def test_a_camera_typed_in_by_hand_is_known_by_its_ip(net, write_config):
    camera(net, FRONT, "192.0.2.2", "Front%20Door")
    config = write_config()
    assert procs.run("devices", "add", "rtsp://192.0.2.2:554/main", "--config", config).returncode == 0
    done, _ = discover(net, config, "--add", "--json")
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    assert row["registered"] and row["registered_as"] == "rtsp://192.0.2.2:554/main"
    assert "0 added, 1 already registered" in done.stderr


def test_malformed_answers_are_counted_not_fatal(net, write_config):
    start_peer(net, net.cam, str(PEERS / "hostile_wsd.py"), "box0", "answer")
    camera(net, FRONT, "192.0.2.2", "Front%20Door")
    done, took = discover(net, write_config(), "--json")
    assert done.returncode == 0, done.stderr
    assert took < 1.5 + 5
    rows = {r["ip"]: r for r in json.loads(done.stdout)}
    assert set(rows) == {"192.0.2.2", "192.0.2.7"}
    assert rows["192.0.2.7"]["name"] == "Evil [2J name"  # no escape sequence reaches a terminal
    line = next(l for l in done.stderr.splitlines() if "malformed" in l)
    assert line.startswith("sereport discover: ignored 7 malformed answer(s): from 192.0.2.2: ")
    assert "and 4 more" in line


def test_a_flood_of_answers_is_bounded(net, write_config):
    start_peer(net, net.cam, str(PEERS / "hostile_wsd.py"), "box0", "flood", "2000")
    done, took = discover(net, write_config(), "--json", "--interface", "cam0", timeout=3)
    assert done.returncode == 0, done.stderr
    assert took < 3 + 8
    assert len(json.loads(done.stdout)) == MAX_DEVICES
    assert f"answer(s) past the bounds (4096 datagrams, {MAX_DEVICES} devices)" in done.stderr


def wait_status(runtime: Path, device: str, status: str, timeout: float = 10.0) -> dict:
    def check():
        try:
            state = json.loads((runtime / "status.json").read_text()).get(device, {})
        except (OSError, ValueError):
            return None
        return state if state.get("status") == status else None
    return procs.wait_for(check, timeout)


def test_daemon_hears_bye_and_marks_the_camera_offline_at_once(net, write_config, tmp_path):
    front = camera(net, FRONT, "192.0.2.2", "Front%20Door", http=True)
    config = write_config("dev_sno: ZKZCPI000120190807142601\n"
                          "WEB_HEART_URL: http://127.0.0.1:9/DeviceStatus\n"
                          "WEB_HEART_TIME: 30\nprobe_interval: 600\nonvif_listen: true\n")
    added, _ = discover(net, config, "--add", "--url-template",
                        "rtsp://{ip}:554/Streaming/Channels/101")
    assert added.returncode == 0 and "1 added" in added.stderr, added.stderr
    out = tmp_path / "daemon"
    out.mkdir()
    with open(out / "stdout", "w") as stdout, open(out / "stderr", "w") as stderr:
        daemon = subprocess.Popen(net.command(net.box, procs.command() + ["--config", config, "run"]),
                                  stdout=stdout, stderr=stderr, text=True, env=procs.env())
    net.started.append(daemon)

    def log() -> str:
        return (out / "stderr").read_text()

    runtime = tmp_path / "runtime_dir"
    wait_status(runtime, device_id(FRONT), "online")
    procs.wait_for(lambda: "onvif_listen: hearing" in log())
    assert "onvif_listen: hearing ONVIF cameras' Hello and Bye on cam0, quiet0" in log()

    # Hostile datagrams first: they are dropped, and the listener goes on.
    sent = subprocess.run(net.command(net.cam, [sys.executable, str(PEERS / "hostile_wsd.py"),
                                                "box0", "send"]), env=procs.env(), timeout=10)
    assert sent.returncode == 0
    # An unregistered camera's Hello is logged once, with what registers it.
    camera(net, BACK, "192.0.2.3", "Back")
    procs.wait_for(lambda: "Back at 192.0.2.3 said Hello and is not registered" in log())

    said = time.monotonic()
    front.stdin.write("bye\n")
    front.stdin.flush()
    state = wait_status(runtime, device_id(FRONT), "offline", timeout=20)
    # at once (the publisher delays its Bye by up to a second or two), not at the next cycle,
    # 600 s away; how fast, on an unloaded machine, is not this test's business
    assert time.monotonic() - said < 20
    # The publisher sends its Bye out of each of its addresses (192.0.2.2 and .3).
    assert state["reason"] == "bye"
    assert state["detail"] in ("said Bye (WS-Discovery) from 192.0.2.2",
                               "said Bye (WS-Discovery) from 192.0.2.3")
    procs.wait_for(lambda: "device Front Door (rtsp://192.0.2.2:554/Streaming/Channels/101) is now offline (bye" in log())
    # ... and told to the platform at once, in an event report (this one refused: port 9)
    procs.wait_for(lambda: "event report (device Front Door (rtsp://192.0.2.2:554/Streaming/"
                           "Channels/101) offline): 0/1 accepted" in log(), 5)
    time.sleep(1.5)  # the Bye is repeated: the change is logged once
    assert log().count("is now offline") == 1
    assert log().count("event report (") == 1
    assert daemon.poll() is None
    # Turned off by a reload: the socket is closed, the daemon goes on.
    Path(config).write_text(Path(config).read_text().replace("onvif_listen: true",
                                                             "onvif_listen: false"))
    procs.wait_for(lambda: "onvif_listen: stopped after" in log())
    assert "onvif_listen True -> False" in log()
    code, _, _ = procs.stop(daemon)
    assert code == 0
    assert "Traceback" not in log()


def test_bad_options_are_one_line_and_change_nothing(write_config, tmp_path):
    config = write_config()
    for args, expected in ((["--url-template", "http://{ip}/"], "needs rtsp:// or rtsps:// and {ip}"),
                           (["--url-template", "rtsp://camera/"], "needs rtsp:// or rtsps:// and {ip}"),
                           (["--timeout", "0"], "not a number of seconds from 0.2 to 60")):
        done = procs.run("discover", "--config", config, *args)
        assert done.returncode == 2 and expected in done.stderr.splitlines()[-1], done.stderr
    assert not (tmp_path / "state_dir" / "devices.json").exists()
