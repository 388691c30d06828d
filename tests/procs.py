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


def env(**extra: str) -> dict:
    """The environment for a sereport subprocess: no systemd, and the loopback guard."""
    clean = dict(os.environ)
    for key in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "SEREPORT_CONFIG"):
        clean.pop(key, None)
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [GUARD, clean.get("PYTHONPATH")]))
    clean.update(extra)
    return clean


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(command() + list(args), capture_output=True, text=True,
                          timeout=timeout, env=env())


def start(*args: str, extra_env: dict | None = None, stdout=subprocess.PIPE,
          stderr=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen(command() + list(args), stdout=stdout, stderr=stderr, text=True,
                            env=env(**(extra_env or {})))


class Logged:
    """A sereport subprocess whose output goes to files (a pipe left unread could block it)."""

    def __init__(self, directory: Path, *args: str, extra_env: dict | None = None):
        directory.mkdir(parents=True, exist_ok=True)
        self.out_path = directory / "stdout"
        self.err_path = directory / "stderr"
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = start(*args, extra_env=extra_env, stdout=out, stderr=err)

    def log(self) -> str:
        return self.err_path.read_text()

    def wait_log(self, text: str, timeout: float = 10.0) -> str:
        return wait_for(lambda: text in self.log() and self.log(), timeout)

    def terminate(self, timeout: float = 5.0) -> tuple[int, float]:
        """SIGTERM; the exit status and the seconds it took to exit."""
        started = time.monotonic()
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"no exit within {timeout}s of SIGTERM:\n{self.log()}")
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


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
