"""Raw readings of the machine sereport runs on.

One method per reading, nothing cached, nothing rounded: the gateway
collector decides what to do with them.  Tests pass an object with the same
methods instead, so no test depends on the machine having /data or eth0.
``proc_root`` is injectable like prometheus_client's process collector.
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


class System:
    def __init__(self, proc_root: str = "/proc"):
        self.proc_root = proc_root

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
        for name, addrs in psutil.net_if_addrs().items():
            ipv4 = next((a.address for a in addrs if a.family == socket.AF_INET), "")
            mac = next((a.address for a in addrs if a.family == psutil.AF_LINK), "")
            result[name] = Interface(name, ipv4, mac.lower(), False)
        return result

    def up_interfaces(self) -> set[str]:
        """Names of the interfaces that are up (several ioctls each: asked only when needed)."""
        return {name for name, stats in psutil.net_if_stats().items() if stats.isup}

    def cpu_times(self) -> tuple[float, float]:
        """(busy, total) CPU seconds since boot, all CPUs together."""
        times = psutil.cpu_times()
        total = sum(times)
        idle = times.idle + getattr(times, "iowait", 0.0)
        return total - idle, total

    def memory(self) -> tuple[int, int]:
        """(total, available) bytes."""
        mem = psutil.virtual_memory()
        return mem.total, mem.available

    def disk(self, path: str) -> tuple[int, int]:
        """(size, free for unprivileged users) bytes of the filesystem at path."""
        st = os.statvfs(path)
        return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize

    def read_text(self, path: str) -> str:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TEXT + 1)
        if len(data) > MAX_TEXT:
            raise OSError(f"larger than {MAX_TEXT} bytes")
        return data.decode("utf-8", errors="replace")
