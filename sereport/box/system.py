"""Raw readings of the machine sereport runs on.

One method per reading, nothing cached, nothing rounded: the gateway
collector decides what to do with them.  Tests pass an object with the same
methods instead, so no test depends on the machine having /data or eth0.

Every file is read under ``root`` (the ``host_root`` key, default ``/``),
like node_exporter's ``--path.rootfs``: procfs, sysfs, version and serial
files, the data partition and the version command all come from the box
mounted there, so tests (and a container watching its host) use a tree of
their own.  Interface addresses are the kernel's own (netlink), not files.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import psutil

MAX_TEXT = 64 * 1024  # a version or serial file larger than this is not one


@dataclass(frozen=True)
class Interface:
    name: str
    ipv4: str  # '' when it has none
    mac: str  # lower case, '' when it has none
    up: bool


def under(root: str, path: str) -> str:
    """``path`` of the box, as seen from here with the box's / at ``root``."""
    return path if root in ("", "/") else os.path.join(root, path.lstrip("/"))


class System:
    def __init__(self, root: str = "/", proc_root: str | None = None):
        self.root = root
        self.proc_root = proc_root or under(root, "/proc")

    def _psutil(self):
        """psutil, reading the box's procfs (it looks up PROCFS_PATH at each call)."""
        psutil.PROCFS_PATH = self.proc_root
        return psutil

    def hostname(self) -> str:
        return socket.gethostname()

    def default_route_interface(self) -> str:
        """The interface of the IPv4 default route, '' when there is none."""
        with open(os.path.join(self.proc_root, "net/route"), encoding="ascii") as routes:
            next(routes, None)  # header
            best = None
            for line in routes:
                cols = line.split()
                if len(cols) >= 8 and cols[1] == "00000000" and cols[7] == "00000000":
                    metric = int(cols[6])
                    if best is None or metric < best[0]:
                        best = (metric, cols[0])
        return best[1] if best else ""

    def interfaces(self) -> dict[str, Interface]:
        """Addresses of every interface (``up`` is filled by ``up_interfaces``)."""
        result = {}
        for name, addrs in self._psutil().net_if_addrs().items():
            ipv4 = next((a.address for a in addrs if a.family == socket.AF_INET), "")
            mac = next((a.address for a in addrs if a.family == psutil.AF_LINK), "")
            result[name] = Interface(name, ipv4, mac.lower(), False)
        return result

    def up_interfaces(self) -> set[str]:
        """Names of the interfaces that are up (several ioctls each: asked only when needed)."""
        return {name for name, stats in self._psutil().net_if_stats().items() if stats.isup}

    def cpu_times(self) -> tuple[float, float]:
        """(busy, total) CPU seconds since boot, all CPUs together."""
        times = self._psutil().cpu_times()
        total = sum(times)
        idle = times.idle + getattr(times, "iowait", 0.0)
        return total - idle, total

    def memory(self) -> tuple[int, int]:
        """(total, available) bytes."""
        mem = self._psutil().virtual_memory()
        return mem.total, mem.available

    def disk(self, path: str) -> tuple[int, int]:
        """(size, free for unprivileged users) bytes of the filesystem at path."""
        st = os.statvfs(under(self.root, path))
        return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize

    def read_text(self, path: str) -> str:
        with open(under(self.root, path), "rb") as handle:
            data = handle.read(MAX_TEXT + 1)
        if len(data) > MAX_TEXT:
            raise OSError(f"{path}: larger than {MAX_TEXT} bytes")
        return data.decode("utf-8", errors="replace")

    def clock_synced(self) -> bool:
        """The kernel's own word (adjtimex), not a daemon's: the same kernel under any
        host_root."""
        from sereport.box.vitals import clock_synced

        return clock_synced()

    def read_link(self, path: str) -> str:
        """Where a symbolic link points, as written in it."""
        return os.readlink(under(self.root, path))

    def run(self, command: str, timeout: float) -> str:
        """The standard output of a program of the box (no arguments, no shell).

        Killed after ``timeout`` seconds or past MAX_TEXT bytes of output.  A
        missing program is FileNotFoundError, a failing one OSError.
        """
        import subprocess  # only for a box whose version comes from a program
        import threading

        program = under(self.root, command)
        if not os.path.isfile(program):
            raise FileNotFoundError(2, "No such file or directory", command)
        proc = subprocess.Popen([program], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True)

        def kill() -> None:  # the whole group: a child left behind would hold the pipe open
            try:
                os.killpg(proc.pid, 9)
            except OSError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            data = proc.stdout.read(MAX_TEXT + 1)
            if len(data) > MAX_TEXT:
                raise OSError(f"{command}: printed more than {MAX_TEXT} bytes")
            code = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                kill()
                proc.wait()
            proc.stdout.close()
        if code < 0:
            raise OSError(f"{command}: no answer within {timeout:g}s")
        if code != 0:
            raise OSError(f"{command}: exited with status {code}")
        return data.decode("utf-8", errors="replace")
