"""A hostile or broken registry (devices.json nested deep, a full disk): the beat goes
on, the commands say one line, and nothing changes."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import time

import pytest

from peers import Platform, need
from procs import run, wait_for
from sereport import config
from sereport.devices import registry as registry_module
from sereport.devices.registry import Registry, StorageError

LICENCE = "ZKZCPI000120190807142601"
DEEP = '{"version": 1, "devices": ' + "[" * 100000 + "]" * 100000 + "}"


@pytest.fixture
def platform():
    peer = Platform()
    yield peer
    peer.close()


def test_deep_registry_does_not_stop_the_beat(write_config, daemon, platform, tmp_path):
    path = write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: {platform.url}\nWEB_HEART_TIME: 0.5\n"
                        f"devices:\n  - {{url: /etc/hostname}}\n")
    proc = daemon(path)
    wait_for(lambda: len(platform.arrivals) >= 2, 15)
    state = tmp_path / "state_dir"
    state.mkdir(exist_ok=True)
    (state / "devices.json").write_text(DEEP)
    proc.wait_log("not a valid registry file: nested deeper than 32 levels")
    count = len(platform.arrivals)
    time.sleep(2.2)
    assert len(platform.arrivals) >= count + 3
    last = [b for b in platform.bodies() if isinstance(b, dict)][-1]
    assert [d["ep_url"] for d in last["sub_devices"]] == ["/etc/hostname"]  # the seed stays
    log = proc.log()
    assert "beat failed" not in log and "Traceback" not in log
    assert log.count("nested deeper than 32 levels") == 1  # logged once
    assert proc.terminate()[0] == 0


def test_deep_registry_commands_say_one_line(write_config, tmp_path):
    path = write_config(f"dev_sno: {LICENCE}\n")
    (tmp_path / "state_dir").mkdir(exist_ok=True)
    (tmp_path / "state_dir" / "devices.json").write_text(DEEP)
    for args in (["list"], ["show", "x"], ["add", "/etc/hostname"], ["remove", "x"]):
        done = run("--config", path, "devices", *args)
        assert done.returncode == 1, done.stderr
        assert done.stderr.splitlines() == [
            f"sereport devices {args[0]}: {tmp_path / 'state_dir' / 'devices.json'}: not a valid "
            "registry file: nested deeper than 32 levels"], done.stderr[:500]
    assert (tmp_path / "state_dir" / "devices.json").read_text() == DEEP  # untouched


def test_status_file_of_another_shape_is_ignored(write_config, tmp_path):
    path = write_config(f"dev_sno: {LICENCE}\ndevices:\n  - {{url: /etc/hostname}}\n")
    (tmp_path / "runtime_dir").mkdir(exist_ok=True)
    forged = '{"x": {"checked_at": "x", "duration": [], "status": 5}}'
    for text in ("[1, 2]", "[" * 100000, "{" + '"a": {' * 50 + "}" * 51, forged):
        (tmp_path / "runtime_dir" / "status.json").write_text(text)
        done = run("--config", path, "devices", "list")
        assert done.returncode == 0 and "/etc/hostname" in done.stdout, done.stderr


def test_full_disk_changes_nothing_in_process(write_config, monkeypatch):
    cfg = config.load(write_config(f"dev_sno: {LICENCE}\n"))
    registry = Registry(cfg.registry_path)
    registry.add({"url": "/etc/hostname"})
    before = open(cfg.registry_path).read()

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(registry_module.atomic, "write", full)
    with pytest.raises(StorageError) as caught:
        registry.add({"url": "/etc/passwd"})
    assert str(caught.value) == (f"{cfg.registry_path}: cannot write: No space left on device; "
                                 "nothing changed")
    assert open(cfg.registry_path).read() == before


def test_full_disk_is_one_line_from_the_command(write_config, tmp_path):
    need(os.geteuid() == 0 and shutil.which("mount") is not None, "root (to mount a tiny tmpfs)")
    state = tmp_path / "tiny"
    state.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(state)],
                             capture_output=True, text=True, timeout=30)
    need(mounted.returncode == 0, f"a tmpfs mount ({mounted.stderr.strip()})")
    try:
        path = write_config(f"dev_sno: {LICENCE}\nstate_dir: {state}\n")
        assert run("--config", path, "devices", "add", "/etc/hostname", "--name",
                   "x" * 3000).returncode == 0
        before = (state / "devices.json").read_bytes()
        try:  # fill what is left
            with open(state / "filler", "wb", buffering=0) as filler:
                while True:
                    filler.write(b"\0" * 1024)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        done = run("--config", path, "devices", "add", "/etc/passwd", "--name", "y" * 3000)
        assert done.returncode == 1
        assert done.stderr.splitlines() == [
            f"sereport devices add: {state / 'devices.json'}: cannot write: No space left on "
            "device; nothing changed"], done.stderr
        assert (state / "devices.json").read_bytes() == before
        assert json.loads(before)["devices"][0]["url"] == "/etc/hostname"
        assert [p.name for p in state.iterdir() if p.name.endswith(".tmp")] == []
    finally:
        subprocess.run(["umount", str(state)], timeout=30)
