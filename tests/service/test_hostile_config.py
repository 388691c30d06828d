"""A hostile config edit (issue: no input stops the beat): deep nesting, an alias
bomb, a huge file. The running daemon logs one line, keeps beating with the old
config, and stays small; the commands say one line and exit 78."""

from __future__ import annotations

import time

import pytest

from peers import Platform
from procs import run, wait_for

LICENCE = "ZKZCPI000120190807142601"


def bomb() -> str:
    text = 'x: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for level, previous in zip("bcdefghi", "abcdefgh"):
        text += f"{level}: &{level} [" + ", ".join([f"*{previous}"] * 9) + "]\n"
    return text


HOSTILE = {
    "deep": ("serial_files: " + "[" * 3000 + "]" * 3000 + "\n", "nested deeper than 32 levels"),
    "bomb": (bomb(), "expands to more than 100000 values"),
    "huge": ("# " + "x" * (3 * 1024 * 1024) + "\n", "larger than 1 MiB"),
    "bigint": ("probe_timeout: 1" + "0" * 400 + "\n", "is out of range"),
}


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.fixture
def platform():
    peer = Platform()
    yield peer
    peer.close()


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_edit_keeps_the_old_config_beating(write_config, daemon, platform, kind):
    good = f"dev_sno: {LICENCE}\nWEB_HEART_URL: {platform.url}\nWEB_HEART_TIME: 0.5\n"
    path = write_config(good)
    proc = daemon(path)
    wait_for(lambda: len(platform.arrivals) >= 2, 15)
    before = rss_kib(proc.proc.pid)
    text, message = HOSTILE[kind]
    with open(path, "a") as handle:
        handle.write(text)
    proc.wait_log("config not reloaded")
    count = len(platform.arrivals)
    time.sleep(2.2)
    assert len(platform.arrivals) >= count + 3  # the beat never stopped
    assert proc.proc.poll() is None
    log = proc.log()
    problems = [line for line in log.splitlines() if "config not reloaded" in line]
    assert len(problems) == 1 and message in problems[0], log
    assert max(len(line) for line in log.splitlines()) < 1000
    assert "Traceback" not in log
    assert rss_kib(proc.proc.pid) - before < 20 * 1024  # no expansion, no copy of 3 MiB lines
    assert proc.terminate()[0] == 0


@pytest.mark.parametrize("kind", sorted(HOSTILE))
@pytest.mark.parametrize("command", [["--dry-run"], ["check"], ["--once"], ["devices", "list"]])
def test_hostile_config_is_one_line_and_exit_78(write_config, kind, command):
    text, message = HOSTILE[kind]
    path = write_config(f"dev_sno: {LICENCE}\n" + text)
    done = run("--config", path, *command)
    assert done.returncode == 78, done.stderr
    assert len(done.stderr.splitlines()) == 1 and message in done.stderr, done.stderr[:2000]
