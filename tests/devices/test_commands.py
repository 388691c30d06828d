"""`sereport devices ...` as an operator runs it, and a running daemon following it."""

from __future__ import annotations

import json
import subprocess

from peers import HangingServer, refused_port
from procs import command, env, run, stop, wait_for

LICENCE = "ZKZCPI000120190807142601"


def test_round_trip(write_config):
    path = write_config(f"dev_sno: {LICENCE}\ndevices:\n  - {{url: '127.0.0.9', name: seeded, probe: none}}\n")
    added = run("--config", path, "devices", "add", "rtsp://admin:pw@127.0.0.2:554/ch1",
                "--name", "front door", "--location", "95274d2c-0941-4d96-b032-ab200f81362c",
                "--ep-type", "3")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("added ") and "front door (rtsp://admin:***@127.0.0.2:554/ch1)" in added.stdout
    device_id = added.stdout.split()[1]

    table = run("--config", path, "devices", "list").stdout.splitlines()
    assert table[0].split() == ["ID", "STATUS", "REASON", "TYPE", "PROBE", "NAME", "URL"]
    assert any("seeded" in line and "none" in line for line in table[1:])
    assert any(device_id in line and "rtsp://admin:***@127.0.0.2:554/ch1" in line for line in table)

    listed = json.loads(run("--config", path, "devices", "list", "--json").stdout)
    assert [d["name"] for d in listed] == ["seeded", "front door"]
    assert listed[1]["ep_type"] == "3" and listed[1]["source"].endswith("devices.json")
    assert listed[0]["source"] == path

    shown = json.loads(run("--config", path, "devices", "show", device_id, "--json").stdout)
    assert shown["location"] == "95274d2c-0941-4d96-b032-ab200f81362c" and "last_probe" not in shown
    text = run("--config", path, "devices", "show", "rtsp://admin:pw@127.0.0.2:554/ch1").stdout
    assert "last_probe: none yet" in text
    assert ":pw@" not in text and ":pw@" not in json.dumps(listed)

    removed = run("--config", path, "devices", "remove", device_id)
    assert removed.returncode == 0 and removed.stdout.startswith(f"removed {device_id}")
    assert [d["name"] for d in json.loads(run("--config", path, "devices", "list", "--json").stdout)] == ["seeded"]


def test_refusals_are_one_line_with_status_1(write_config):
    path = write_config(f"dev_sno: {LICENCE}\n")
    assert run("--config", path, "devices", "add", "127.0.0.2", "--name", "a").returncode == 0
    dup = run("--config", path, "devices", "add", "127.0.0.2", "--name", "b")
    assert dup.returncode == 1
    assert dup.stderr.startswith("sereport devices add: url '127.0.0.2' is already used by device ")
    assert len(dup.stderr.strip().splitlines()) == 1
    bad = run("--config", path, "devices", "add", "ftp://x")
    assert bad.returncode == 1 and "device.url: 'ftp://x' is not a device url" in bad.stderr
    gone = run("--config", path, "devices", "remove", "nope")
    assert gone.returncode == 1 and "no device with id or url 'nope'" in gone.stderr
    usage = run("--config", path, "devices", "add", "127.0.0.3", "--ep-type", "9")
    assert usage.returncode == 2


def test_password_from_stdin_is_stored_but_never_shown(write_config, tmp_path):
    path = write_config(f"dev_sno: {LICENCE}\n")
    done = subprocess.run(command() + ["--config", path, "devices", "add", "rtsp://127.0.0.2/ch1",
                                       "--username", "admin", "--password-stdin"],
                          input="S3cret!\n", capture_output=True, text=True, env=env(), timeout=30)
    assert done.returncode == 0, done.stderr
    stored = json.load(open(tmp_path / "state_dir" / "devices.json"))
    assert stored["devices"][0]["password"] == "S3cret!"
    listed = run("--config", path, "devices", "list", "--json").stdout
    assert "S3cret" not in listed and '"password": "***"' in listed


def test_dry_run_probes_first(write_config):
    server = HangingServer()
    try:
        path = write_config(f"""
            dev_sno: {LICENCE}
            probe_timeout: 1
            devices:
              - {{url: "rtsp://127.0.0.1:{server.port}/up", probe: tcp}}
              - {{url: "rtsp://127.0.0.1:{refused_port()}/down"}}
        """)
        done = run("--config", path, "--dry-run")
    finally:
        server.close()
    assert done.returncode == 0, done.stderr
    statuses = [d["ep_status"] for d in json.loads(done.stdout)["sub_devices"]]
    assert statuses == ["online", "offline"]


def test_running_daemon_follows_registry_and_reports_real_states(write_config, tmp_path, spawn):
    port = refused_port()
    beats = tmp_path / "beats.jsonl"
    receiver = spawn("receive", "--port", str(port), "--json-log", str(beats))
    server = HangingServer()
    try:
        path = write_config(f"""
            dev_sno: {LICENCE}
            WEB_HEART_URL: http://127.0.0.1:{port}/DeviceStatus
            WEB_HEART_TIME: 0.5
            probe_timeout: 0.4
            probe_connect_timeout: 0.3
        """)
        wait_for(lambda: receiver.poll() is None and _listening(port))
        daemon = spawn("--config", path, "run")

        def last_subs():
            lines = beats.read_text().splitlines() if beats.exists() else []
            return json.loads(lines[-1])["body"]["sub_devices"] if lines else None

        wait_for(lambda: last_subs() == [], timeout=10)  # beating, with no device yet
        added = run("--config", path, "devices", "add", f"rtsp://127.0.0.1:{server.port}/cam",
                    "--probe", "tcp", "--name", "new")
        assert added.returncode == 0, added.stderr
        subs = wait_for(lambda: (s := last_subs()) and s[0]["ep_status"] == "online" and s, timeout=10)
        assert subs[0]["ep_name"] == "new"
        shown = run("--config", path, "devices", "show", "--json", added.stdout.split()[1])
        assert json.loads(shown.stdout)["last_probe"]["reason"] == "ok"
        code, _, err = stop(daemon)
        assert code == 0, err
        assert "device new (rtsp://127.0.0.1:" in err and "is online (ok: TCP" in err
    finally:
        server.close()


def _listening(port):
    import socket
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_show_and_remove_take_the_url_as_list_prints_it(write_config):
    path = write_config(f"dev_sno: {LICENCE}\n")
    assert run("--config", path, "devices", "add", "rtsp://admin:S3cret@127.0.0.9/ch1").returncode == 0
    listed = json.loads(run("--config", path, "devices", "list", "--json").stdout)
    shown = listed[0]["url"]
    assert shown == "rtsp://admin:***@127.0.0.9/ch1"
    done = run("--config", path, "devices", "show", shown)
    assert done.returncode == 0 and f"url: {shown}" in done.stdout, done.stderr
    again = run("--config", path, "devices", "add", "rtsp://admin:other@127.0.0.9/ch1")
    assert again.returncode == 1 and "is already used by device" in again.stderr
    assert run("--config", path, "devices", "remove", shown).returncode == 0
    assert json.loads(run("--config", path, "devices", "list", "--json").stdout) == []


def test_add_says_what_a_url_needs(write_config):
    path = write_config(f"dev_sno: {LICENCE}\n")
    for url, hint in (("test.mp4", "a local file needs an absolute path, e.g. /data/test.mp4"),
                      ("192.168.1.100:554/ch1", "e.g. rtsp://192.168.1.100:554/ch1"),
                      ("rtsp://192.168.1.100:99999/x", "its port is not a port")):
        done = run("--config", path, "devices", "add", url)
        assert done.returncode == 1 and hint in done.stderr, done.stderr
        assert len(done.stderr.splitlines()) == 1
