"""Network namespaces for the ONVIF discovery tests: multicast with no way out.

    box    the side sereport runs on: cam0 192.0.2.1/24 (to the cameras) and
           quiet0 198.51.100.1/24 (a network where nothing answers)
    cam    the cameras: box0 192.0.2.2/24 and 192.0.2.3/24
    quiet  nothing but its end of the quiet0 link

Each pair is a veth link between two of these namespaces, and nothing else:
no packet can leave them.  Their names start with sereport-test- (the test
guard lets processes inside such namespaces send where they like).  Needs
root and iproute2; a test without them is skipped, and fails in CI.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess

from peers import need

PREFIX = "sereport-test-"
_count = itertools.count()


def need_namespaces() -> None:
    need(os.geteuid() == 0 and shutil.which("ip") is not None,
         "root and iproute2 (to make network namespaces)")


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


class Net:
    def __init__(self):
        tag = f"{os.getpid()}-{next(_count)}"
        self.box, self.cam, self.quiet = (f"{PREFIX}{role}-{tag}" for role in ("box", "cam", "quiet"))
        self.made: list[str] = []
        try:
            for name in (self.box, self.cam, self.quiet):
                _ip("netns", "add", name)
                self.made.append(name)
                _ip("-n", name, "link", "set", "lo", "up")
            self._link(self.box, "cam0", ["192.0.2.1/24"], self.cam, "box0",
                       ["192.0.2.2/24", "192.0.2.3/24"])
            self._link(self.box, "quiet0", ["198.51.100.1/24"], self.quiet, "box0",
                       ["198.51.100.2/24"])
        except Exception:
            self.close()
            raise

    @staticmethod
    def _link(left: str, left_name: str, left_addrs: list, right: str, right_name: str,
              right_addrs: list) -> None:
        _ip("link", "add", left_name, "netns", left, "type", "veth", "peer", "name", right_name,
            "netns", right)
        for ns, name, addrs in ((left, left_name, left_addrs), (right, right_name, right_addrs)):
            for addr in addrs:
                _ip("-n", ns, "addr", "add", addr, "dev", name)
            _ip("-n", ns, "link", "set", name, "up")
            if left_name == "cam0" or ns != left:
                _ip("-n", ns, "route", "replace", "239.0.0.0/8", "dev", name)

    @staticmethod
    def command(ns: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]

    def close(self) -> None:
        for name in self.made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        self.made = []
