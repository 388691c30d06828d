"""systemd/sereport.service passes systemd-analyze verify."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from peers import need

UNIT = Path(__file__).parent.parent.parent / "systemd" / "sereport.service"


def fake_root(tmp_path):
    """A root where ExecStart's binary and systemd's own units exist."""
    root = tmp_path / "root"
    (root / "opt/sereport/bin").mkdir(parents=True)
    stub = root / "opt/sereport/bin/sereport"
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    (root / "bin").mkdir()
    shutil.copy("/bin/kill", root / "bin/kill")
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system/sereport.service")
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    return root


def test_unit_verifies(tmp_path):
    need(shutil.which("systemd-analyze") is not None and Path("/usr/lib/systemd/system").is_dir(),
         "systemd-analyze (Debian package systemd)")
    root = fake_root(tmp_path)
    done = subprocess.run(["systemd-analyze", "verify", f"--root={root}", "sereport.service"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def test_unit_has_what_the_daemon_relies_on():
    text = UNIT.read_text()
    for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure",
                 "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                 "CapabilityBoundingSet=\n", "StateDirectory=sereport", "RuntimeDirectory=sereport",
                 "ConfigurationDirectory=sereport", "RestartPreventExitStatus=78",
                 "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK"):
        assert line in text, line
    watchdog = int(text.split("WatchdogSec=")[1].split()[0])
    assert watchdog >= 10
