"""The gateway's IP and MAC are read again only when the kernel says the network changed:
in a network namespace of the test's own, with a veth interface it changes under it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from netns import need_namespaces
from peers import need

from sereport.box.netwatch import NetWatch

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import json, subprocess, sys
    sys.path.insert(0, sys.argv[1])
    from sereport.box.gateway import Gateway
    from sereport.box.system import System
    from sereport.config import Config

    def ip(*args):
        subprocess.run(["ip", *args], check=True, capture_output=True)

    ip("link", "add", "eth9", "type", "veth", "peer", "name", "eth8")
    ip("link", "set", "eth9", "address", "02:00:00:00:00:09")
    ip("addr", "add", "10.9.0.2/24", "dev", "eth9")
    ip("link", "set", "eth9", "up")
    ip("route", "add", "default", "via", "10.9.0.1")
    reads = []
    listing = System.interfaces
    System.interfaces = lambda self: reads.append(1) or listing(self)
    gateway = Gateway(Config(path="x.yaml", dev_sno="X"))

    def look():
        state = gateway.collect()
        return [state.ip, state.ext.get("gateway_mac"), len(reads)]

    seen = [look(), look(), look()]
    ip("addr", "del", "10.9.0.2/24", "dev", "eth9")  # the default route goes with it
    ip("addr", "add", "10.9.0.7/24", "dev", "eth9")
    ip("route", "add", "default", "via", "10.9.0.1")
    seen += [look(), look()]
    ip("link", "set", "eth9", "address", "02:00:00:00:00:0a")
    seen += [look(), look()]
    gateway.close()
    print(json.dumps(seen))
""")


def test_the_network_is_read_again_only_when_it_changed(tmp_path):
    need_namespaces()
    need(shutil.which("unshare") is not None, "unshare (util-linux)")
    script = tmp_path / "look.py"
    script.write_text(SCRIPT)
    done = subprocess.run(["unshare", "-n", sys.executable, str(script), str(ROOT)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen[:3] == [["10.9.0.2", "02:00:00:00:00:09", 1]] * 3  # read once, then kept
    assert seen[3][:2] == ["10.9.0.7", "02:00:00:00:00:09"]  # the new address, at once
    assert seen[4] == seen[3]  # and kept again
    assert seen[5][:2] == ["10.9.0.7", "02:00:00:00:00:0a"] and seen[5][2] > seen[4][2]
    assert seen[6] == seen[5]


def test_without_netlink_every_look_says_changed(monkeypatch):
    import socket

    def refused(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")  # RestrictAddressFamilies
    monkeypatch.setattr(socket, "socket", refused)
    watch = NetWatch()
    assert not watch.watching and watch.changed() and watch.changed()


def test_a_quiet_network_is_unchanged_after_the_first_look():
    watch = NetWatch()
    try:
        if watch.watching:
            watch.changed()  # whatever came before
            assert watch.changed() is False
    finally:
        watch.close()
    assert watch.changed() is True  # closed: unwatched
