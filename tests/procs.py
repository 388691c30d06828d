"""Running the sereport command as a subprocess, the way an operator does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def command() -> list[str]:
    """The installed console script next to this Python, else python -m sereport."""
    script = Path(sys.executable).parent / "sereport"
    if script.exists():
        return [str(script)]
    found = shutil.which("sereport")
    return [found] if found else [sys.executable, "-m", "sereport"]


GUARD = str(Path(__file__).parent / "guard")


def env() -> dict:
    """The environment for a sereport subprocess: no systemd, and the loopback guard."""
    clean = dict(os.environ)
    for key in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "SEREPORT_CONFIG"):
        clean.pop(key, None)
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [GUARD, clean.get("PYTHONPATH")]))
    return clean


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(command() + list(args), capture_output=True, text=True,
                          timeout=timeout, env=env())


def start(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(command() + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env(), **kwargs)


def wait_for(predicate, timeout: float = 10.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"not true within {timeout}s")


def stop(proc: subprocess.Popen, timeout: float = 5.0) -> tuple[int, str, str]:
    """SIGTERM, and the exit status and output once it has gone."""
    if proc.poll() is None:
        proc.terminate()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"did not stop within {timeout}s after SIGTERM:\n{err}")
    return proc.returncode, out, err
