"""The config in force, handed across a start again's exec (config/handover.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest

from sereport import config
from sereport.config import handover

LICENCE = "ZKZCPI000120190807142601"


@pytest.fixture
def cfg(write_config):
    return config.load(write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: https://127.0.0.1:9/x\n"
                                    "devices:\n  - url: rtsp://127.0.0.1:9/cam\n"))


def test_what_is_given_is_taken_once_and_closed(cfg, monkeypatch):
    env, fd = handover.give(replace(cfg, interval=7))
    assert fd is not None and env[handover.ENV] == str(fd)
    assert os.get_inheritable(fd)  # it is to cross the exec
    monkeypatch.setenv(handover.ENV, env[handover.ENV])
    taken = handover.take()
    assert taken == replace(cfg, interval=7)
    assert handover.ENV not in os.environ  # nothing the daemon starts inherits it
    try:
        left = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        left = ""
    assert left != f"/memfd:{handover.NAME} (deleted)"  # closed
    assert handover.take() is None


def test_only_its_own_memory_file_is_read(cfg, monkeypatch, tmp_path):
    import pickle

    path = tmp_path / "planted"
    path.write_bytes(pickle.dumps(cfg))
    fd = os.open(path, os.O_RDONLY)
    try:
        for value in (str(fd), "x", "-1", "99999", "²"):
            monkeypatch.setenv(handover.ENV, value)
            assert handover.take() is None
        os.fstat(fd)  # not its own: left open
    finally:
        os.close(fd)


def test_it_is_sealed_against_any_change(cfg):
    env, fd = handover.give(cfg)
    try:
        for change in (lambda: os.ftruncate(fd, 10), lambda: os.pwrite(fd, b"x", 0),
                       lambda: os.pwrite(fd, b"x", 1 << 20)):
            with pytest.raises(PermissionError):
                change()
    finally:
        os.close(fd)


def memory_file(data: bytes, seal: bool) -> int:
    import fcntl

    fd = os.memfd_create(handover.NAME, 0x0002)  # MFD_ALLOW_SEALING; inheritable
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    if seal:
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK
                    | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
    return fd


@pytest.mark.parametrize("data, seal", [
    (b"\x80\x04junk", True),  # not a pickle
    (None, False),  # a good one, but open to change
    ("other", True),  # another sereport version's (an upgrade in between)
    ("not a config", True),
])
def test_a_hand_over_that_is_not_as_given_is_not_taken(cfg, monkeypatch, data, seal):
    import pickle

    from sereport import __version__

    if data is None:
        data = pickle.dumps((__version__, cfg))
    elif data == "other":
        data = pickle.dumps(("0.0.1", cfg))
    elif data == "not a config":
        data = pickle.dumps((__version__, {"urls": ["http://x/"]}))
    monkeypatch.setenv(handover.ENV, str(memory_file(data, seal)))
    assert handover.take() is None


def test_a_refused_memory_file_is_no_hand_over(cfg, monkeypatch):
    import errno

    def refuse(name, flags):
        raise PermissionError(errno.EPERM, "seccomp")
    monkeypatch.setattr(os, "memfd_create", refuse)
    env, fd = handover.give(cfg)
    assert fd is None and handover.ENV not in env


@pytest.mark.parametrize("args", [["check"], ["--dry-run"], ["--once"], ["run"]])
def test_only_run_on_the_same_path_takes_a_hand_over(cfg, monkeypatch, tmp_path, args):
    """`check`, `--dry-run` and `--once` say the file is broken; `run` of another file
    does not take a config handed over for this one."""
    from sereport import cli

    broken = tmp_path / "broken.yaml"
    broken.write_text("WEB_HEART_URL: [unclosed\n")
    handed = replace(cfg, path=str(tmp_path / "other.yaml") if args == ["run"] else str(broken))
    env, fd = handover.give(handed)
    monkeypatch.setenv(handover.ENV, env[handover.ENV])
    assert cli.main(["--config", str(broken), *args]) == cli.EX_CONFIG
    assert handover.ENV not in os.environ


def test_given_nothing_the_environment_is_passed_on_without_it(cfg, monkeypatch):
    monkeypatch.setenv(handover.ENV, "12")
    monkeypatch.delattr(os, "memfd_create", raising=False)
    env, fd = handover.give(cfg)
    assert fd is None and handover.ENV not in env and env["PATH"] == os.environ["PATH"]


def test_a_config_broken_during_a_start_again_leaves_the_handed_one_running(write_config,
                                                                              tmp_path):
    """The new process finds the file broken (saved again between the old process's check
    and its own read): it runs the config the old one handed over, says why, and takes the
    file up again once it is fixed.  (It exited 78: systemd does not restart that.)"""
    import procs
    from peers import Platform

    platform = Platform()
    good = write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: {platform.url}\nWEB_HEART_TIME: 1\n"
                        "offline_beat_on_stop: false\n", name="handed.yaml")
    broken = tmp_path / "sereport.yaml"
    broken.write_text(f"dev_sno: {LICENCE}\nWEB_HEART_URL: [unclosed\n")
    launcher = tmp_path / "launch.py"
    launcher.write_text(textwrap.dedent("""
        import os, sys
        from dataclasses import replace
        from sereport import config
        from sereport.config import handover
        handed = replace(config.load(sys.argv[1]), path=sys.argv[-2])  # as if read from it
        env, fd = handover.give(handed)  # as Daemon._exec_again does
        os.execve(sys.argv[2], sys.argv[2:], env)
    """))
    err = tmp_path / "stderr"
    with open(err, "w") as handle:
        proc = subprocess.Popen([sys.executable, str(launcher), good, *procs.command(),
                                 "--config", str(broken), "run"], stderr=handle, env=procs.env())
    try:
        assert procs.wait_for(lambda: len(platform.arrivals) >= 2, 15), err.read_text()
        log = err.read_text()
        assert f"config not reloaded (starting again): {broken}:" in log
        assert f"the running config stays in force until {broken} is fixed" in log
        broken.write_text(open(good).read().replace("WEB_HEART_TIME: 1", "WEB_HEART_TIME: 0.5"))
        assert procs.wait_for(lambda: f"{broken} is valid again" in err.read_text(), 10)
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(10)
        platform.close()
