"""The README's quick start, command 1, run as written (in a copy of the checkout): the
reporter beats into the bundled receiver, Ctrl-C stops both after the reporter's offline
beat reached the receiver, and nothing is written to the host's /run or /var."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from procs import wait_for

REPO = Path(__file__).resolve().parent.parent


def quick_start_command() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("**1. Run the reporter for real**", 1)[1]
    return re.search(r"```sh\n(.+?)\n```", section, re.S).group(1).strip()


def stamp(path: str):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, sorted(os.listdir(path)) if os.path.isdir(path) else None


def test_quick_start_runs_as_written(tmp_path):
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO, checkout, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "packaging", "dist", "__pycache__", "*.egg-info", "build", "tests"))
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SEREPORT_CONFIG",
                                                            "NOTIFY_SOCKET", "JOURNAL_STREAM")}
    env["XDG_RUNTIME_DIR"] = str(runtime)  # a per-user runtime directory, as a login has
    env["XDG_STATE_HOME"] = str(tmp_path / "state")  # and a state directory
    watched = ["/run/sereport", "/var/lib/sereport"]
    before = {path: stamp(path) for path in watched}
    log = tmp_path / "out"
    with open(log, "w") as out:
        # A shell of its own (a terminal's job), so Ctrl-C is a SIGINT to its process group.
        shell = subprocess.Popen(["bash", "-c", quick_start_command()], cwd=str(checkout), env=env,
                                 stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        text = wait_for(lambda: log.read_text().count("gateway box=") >= 3 and log.read_text(), 240)
        assert text, log.read_text()
        os.killpg(shell.pid, signal.SIGINT)  # Ctrl-C
        assert shell.wait(20) is not None
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait()
    time.sleep(0.5)
    text = log.read_text()
    lines = [line for line in text.splitlines() if "gateway box=" in line]
    assert "status=offline" in lines[-1], text[-2000:]  # the last beat reached the receiver
    assert "Traceback" not in text
    assert (runtime / "sereport").is_dir()  # its runtime files went to the user's directory
    assert {path: stamp(path) for path in watched} == before  # the host's /run and /var untouched
    def gone() -> bool:  # the receiver, stopped by the command's trap, takes a moment
        found = subprocess.run(["pgrep", "-f", str(checkout)], capture_output=True, text=True)
        return found.stdout.strip() == ""
    assert wait_for(gone, 10), "processes left running"
