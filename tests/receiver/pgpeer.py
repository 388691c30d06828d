"""A real PostgreSQL for the tests: Debian's server, initdb into a temporary directory,
run as an unprivileged user when the tests run as root, listening on a Unix socket only."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time

from peers import need, refused_port


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class PostgresPeer:
    def __init__(self):
        need(_bin("initdb") is not None and _bin("postgres") is not None,
             "PostgreSQL (Debian package postgresql)")
        self.dir = tempfile.mkdtemp(prefix="sereport-pg-")
        self.data, self.socket_dir = os.path.join(self.dir, "data"), os.path.join(self.dir, "run")
        os.makedirs(self.socket_dir)
        self.port = refused_port()  # names the socket file only
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # postgres refuses to run as root
            os.chmod(self.dir, 0o755)
            shutil.chown(self.dir, "nobody", "nogroup")
            shutil.chown(self.socket_dir, "nobody", "nogroup")
            self.as_user = ["runuser", "-u", "nobody", "--"]
        done = subprocess.run(self.as_user + [_bin("initdb"), "-D", self.data, "-A", "trust",
                                              "-U", "sereport", "-E", "UTF8", "--no-sync"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        self.proc = None
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql://sereport@/postgres?host={self.socket_dir}&port={self.port}"

    def start(self) -> None:
        self.log = open(os.path.join(self.dir, "postgres.log"), "ab")
        self.proc = subprocess.Popen(
            self.as_user + [_bin("postgres"), "-D", self.data, "-k", self.socket_dir,
                            "-p", str(self.port), "-c", "listen_addresses=", "-c", "fsync=off",
                            "-c", "max_connections=60"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        socket_file = os.path.join(self.socket_dir, f".s.PGSQL.{self.port}")
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run([_bin("pg_isready"), "-h", self.socket_dir, "-p", str(self.port)],
                                   capture_output=True)
            if os.path.exists(socket_file) and ready.returncode == 0:
                return
            assert self.proc.poll() is None and time.monotonic() < deadline, self.server_log()
            time.sleep(0.1)

    def server_log(self) -> str:
        with open(os.path.join(self.dir, "postgres.log"), errors="replace") as handle:
            return handle.read()[-3000:]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # fast shutdown: clients are cut off
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
