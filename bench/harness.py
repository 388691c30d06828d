"""What the benchmarks stand on: processes, /proc readings, loopback peers."""

from __future__ import annotations

import os
import socket
import socketserver
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from peers import HangingServer, Platform, Subprocess, refused_port  # noqa: E402,F401

PYTHON = sys.executable
SEREPORT = str(Path(PYTHON).parent / "sereport")
TICK = os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS")).split()[1])


def cpu_seconds(pid: int) -> float:
    """The process's CPU time (all its threads, ended ones too), to the nanosecond: its
    CPU-time clock (clock_getcpuclockid(3): CPUCLOCK_SCHED of the process), not /proc's
    utime + stime, which count in 10 ms ticks."""
    try:
        return time.clock_gettime((~pid << 3) | 2)
    except OSError:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


class Proc(Subprocess):
    """sereport or the baseline, running on a config file."""

    def __init__(self, kind: str, config: Path):
        args = ([SEREPORT, "--config", str(config), "run"] if kind == "sereport"
                else [PYTHON, str(ROOT / "bench" / "baseline.py"), str(config)])
        self.kind = kind
        self.started = time.monotonic()
        super().__init__(args)

    @property
    def pid(self) -> int:
        return self.proc.pid

    stop = Subprocess.close


class _RtspHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data = b""
        self.request.settimeout(10)
        try:
            while True:
                chunk = self.request.recv(4096)
                if not chunk:
                    return
                data += chunk
                while b"\r\n\r\n" in data:
                    head, _, data = data.partition(b"\r\n\r\n")
                    cseq = next((line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                                 if line.lower().startswith(b"cseq:")), b"1")
                    self.request.sendall(b"RTSP/1.0 200 OK\r\nCSeq: " + cseq + b"\r\n\r\n")
        except OSError:
            pass


class _Threading(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


class DeviceFarm:
    """Cameras on loopback: ones that answer RTSP, refuse, accept and hang, or never accept."""

    def __init__(self):
        self.rtsp = _Threading(("127.0.0.1", 0), _RtspHandler)
        threading.Thread(target=self.rtsp.serve_forever, daemon=True).start()
        self.hanging = HangingServer()
        self.silent = HangingServer(accept=False)
        self._fillers = []
        for _ in range(8):  # a full backlog: further SYNs get no answer
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", self.silent.port))
            self._fillers.append(filler)
        self.refused = refused_port()

    def urls(self, answering=0, refusing=0, hanging=0, silent=0) -> list[str]:
        ports = ([self.rtsp.server_address[1]] * answering + [self.refused] * refusing
                 + [self.hanging.port] * hanging + [self.silent.port] * silent)
        return [f"rtsp://127.0.0.1:{port}/cam{i}" for i, port in enumerate(ports)]

    def close(self):
        self.rtsp.shutdown()
        self.rtsp.server_close()
        self.hanging.close()
        for filler in self._fillers:
            filler.close()
        self.silent.close()


def write_config(path: Path, url: str, interval: float, urls: list[str], licence: str,
                 extra: str = "") -> Path:
    devices = "".join(f"  - {{url: '{u}'}}\n" for u in urls) or "  []\n"
    path.write_text(f"WEB_HEART_URL: {url}\nWEB_HEART_TIME: {interval}\ndev_sno: {licence}\n"
                    f"state_dir: {path.parent / 'state'}\nruntime_dir: {path.parent / 'run'}\n"
                    f"api_port: {refused_port()}\noffline_beat_on_stop: false\n{extra}"
                    f"devices:\n{devices}")
    return path


def arrivals(platform: Platform, licence: str) -> list[float]:
    """Arrival times of the heartbeats of one box (first POST of each, by content)."""
    return [a[0] for a in platform.arrivals if isinstance(a[2], dict)
            and a[2].get("dev_sno") == licence]


class Camera(Subprocess):
    """One RTSP camera in a process of its own, so stopping it closes every connection to
    it at once, as a camera that loses power or is unplugged does (kept ones too)."""

    def __init__(self):
        self.port = refused_port()
        super().__init__([PYTHON, __file__, "camera", str(self.port)], ready="READY")

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"


def statuses(platform: Platform, licence: str) -> list[tuple[float, str]]:
    """(arrival time, the first device's ep_status) of each heartbeat of one box."""
    return [(a[0], a[2]["sub_devices"][0]["ep_status"]) for a in platform.arrivals
            if isinstance(a[2], dict) and a[2].get("dev_sno") == licence
            and a[2].get("sub_devices")]


if __name__ == "__main__" and sys.argv[1:2] == ["camera"]:
    server = _Threading(("127.0.0.1", int(sys.argv[2])), _RtspHandler)
    print("READY", flush=True)
    server.serve_forever()
