"""The unit under a real systemd: the amd64 Debian root (tests/system/make-root.sh) with
the sereport .deb installed is booted with systemd-nspawn, and sereport is driven with
systemctl from inside it by tests/system/boot_driver.py (a oneshot unit that powers the
container off when done).  One boot serves every test here; each checks one part of what
the driver recorded: the unconfigured package's clean exit 78 at boot, READY, beats to a
receiver in the container, reload by `systemctl reload` and by a plain save of the config,
stop with the offline beat, and a journal without tracebacks or failed exec steps.
The driver's files stay in the results directory named in a failure's message.

As root only (debootstrap once, systemd-nspawn); the container has no network but its own
loopback (--private-network).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))

from peers import need  # noqa: E402
from sereport.receiver.validate import check  # noqa: E402

BOOT_TIMEOUT = 180
MACHINE = "sereport-boot-%d" % os.getpid()
DRIVER = "/usr/local/lib/sereport-test/boot_driver.py"
TEST_UNIT = """\
[Unit]
Description=sereport system test driver
After=multi-user.target
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/usr/bin/python3 {driver}
TimeoutStartSec={timeout}

[Install]
WantedBy=multi-user.target
"""


CLOCK_DROPIN = """\
[Service]
ProtectClock=no
SystemCallFilter=adjtimex clock_adjtime clock_adjtime64
"""


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join((text or "").splitlines()[-lines:])


@pytest.fixture(scope="session")
def debian_root() -> Path:
    """The cached amd64 root (built once by make-root.sh); never modified, only copied."""
    need(os.geteuid() == 0, "root (systemd-nspawn, debootstrap)")
    try:
        made = subprocess.run(["bash", str(HERE / "make-root.sh"), "amd64"], capture_output=True,
                              text=True, timeout=1200)
    except subprocess.TimeoutExpired:
        made = None
    if made is None or made.returncode != 0:
        need(False, "the amd64 Debian root (tests/system/make-root.sh amd64: %s)"
             % ("timed out" if made is None else _tail(made.stderr, 5)))
    need(shutil.which("systemd-nspawn") is not None, "systemd-nspawn (systemd-container)")
    root = Path(made.stdout.strip().splitlines()[-1])
    assert (root / ".complete").exists(), root
    return root


@pytest.fixture(scope="session")
def sereport_deb(deb) -> Path:
    """sereport_<version>_amd64.deb, from the session's build (tests/system/conftest.py)."""
    need(os.geteuid() == 0, "root (systemd-nspawn, debootstrap)")
    return Path(deb("amd64"))


def _children(pid: int) -> list:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                found.append(int(entry))
    return found


def _tear_down(proc: subprocess.Popen) -> None:
    """Stop a container that is still running: SIGTERM asks nspawn for a clean poweroff;
    then SIGKILL to its init (which ends every process in the container) and to nspawn
    (whose death alone would leave the container running)."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
        return
    except subprocess.TimeoutExpired:
        pass
    for pid in _children(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=15)
    # What nspawn removes itself when it exits on its own.
    shutil.rmtree("/run/systemd/nspawn/propagate/" + MACHINE, ignore_errors=True)


def _container(command: list, log: Path, timeout: float):
    """Run systemd-nspawn, output to log; its exit status, or None if it timed out.
    The container is gone when this returns, whatever happened."""
    with open(str(log), "wb") as out:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        finally:
            _tear_down(proc)


def _nspawn(root: Path, *args: str) -> list:
    # Its own machine name: nspawn keeps per-name state in /run/systemd/nspawn, and the
    # default name (the directory's, "root") may be another test's too.
    # CAP_SYS_TIME: nspawn's own seccomp filter refuses adjtimex(2) to a container without
    # it, even read-only; a box has no such filter. The unit itself keeps no capability.
    return ["systemd-nspawn", "--quiet", "--directory", str(root), "--private-network",
            "--register=no", "--keep-unit", "--capability=CAP_SYS_TIME",
            "--machine=" + MACHINE] + list(args)


class Boot:
    """What one boot left in its results directory."""

    def __init__(self, results: Path, console: str, timings: dict, timed_out: bool):
        self.dir = results
        self.console = console
        self.timings = timings
        self.timed_out = timed_out
        (results / "timings.json").write_text(json.dumps(timings))
        path = results / "results.json"
        self.results = json.loads(path.read_text()) if path.exists() else {}
        self.steps = {s["name"]: s for s in self.results.get("steps", [])}
        path = results / "received.jsonl"
        self.received = [json.loads(line) for line in path.read_text().splitlines()
                         if line.strip()] if path.exists() else []
        path = results / "journal.txt"
        self.journal = path.read_text() if path.exists() else ""

    def step(self, name: str) -> dict:
        assert not self.timed_out, "the container did not power off within %ds:\n%s" % (
            BOOT_TIMEOUT, self.context())
        assert not self.results.get("error"), "the driver failed:\n%s\n%s" % (
            self.results.get("error"), self.context())
        assert name in self.steps, "the driver did not get to step %r:\n%s" % (name, self.context())
        return self.steps[name]

    def beats(self, **fields) -> list:
        return [r["body"] for r in self.received if isinstance(r.get("body"), dict)
                and all(r["body"].get(k) == v for k, v in fields.items())]

    def context(self) -> str:
        text = "\n--- journalctl -u sereport (all in %s):\n%s" % (self.dir, _tail(self.journal))
        if self.timed_out or not self.results.get("done"):
            text += "\n--- console:\n" + _tail(self.console, 30)
        return text


@pytest.fixture(scope="module")
def boot(debian_root, sereport_deb, tmp_path_factory) -> Boot:
    """Copy the root, install the .deb into it, boot it once with the driver; always
    torn down, and the copy removed (the results directory is kept)."""
    base = tmp_path_factory.mktemp("unit-boot")
    root = base / "root"
    results = base / "results"
    results.mkdir()
    timings = {}
    started = time.monotonic()
    try:
        subprocess.run(["cp", "-a", "--reflink=auto", str(debian_root), str(root)], check=True,
                       timeout=300)
        timings["copy"] = round(time.monotonic() - started, 1)
        deb_dir = sereport_deb.parent
        dpkg_log = results / "dpkg.log"
        rc = _container(_nspawn(root, "--as-pid2", "--bind-ro=%s:/deb" % deb_dir,
                                "--setenv=DEBIAN_FRONTEND=noninteractive",
                                "dpkg", "-i", "/deb/" + sereport_deb.name), dpkg_log, 300)
        assert rc == 0, "dpkg -i %s failed in the Debian root (%s):\n%s" % (
            sereport_deb.name, "timed out" if rc is None else "exit %d" % rc,
            _tail(dpkg_log.read_text(errors="replace")))

        timings["dpkg -i"] = round(time.monotonic() - started - timings["copy"], 1)
        driver = root / DRIVER.lstrip("/")
        driver.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(str(HERE / "boot_driver.py"), str(driver))
        shutil.copyfile(str(HERE.parent / "peers_bin" / "json_sink.py"),
                        str(driver.parent / "json_sink.py"))
        # The README's drop-in for extensions: [clock_synced] (the unit's ProtectClock forbids
        # even the read-only adjtimex).
        dropin = root / "etc/systemd/system/sereport.service.d"
        dropin.mkdir(parents=True, exist_ok=True)
        (dropin / "clock.conf").write_text(CLOCK_DROPIN)
        unit = root / "etc/systemd/system/sereport-test.service"
        unit.write_text(TEST_UNIT.format(driver=DRIVER, timeout=BOOT_TIMEOUT - 30))
        wants = root / "etc/systemd/system/multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        (wants / "sereport-test.service").symlink_to("/etc/systemd/system/sereport-test.service")

        console = results / "console.log"
        booted = time.monotonic()
        rc = _container(_nspawn(root, "--boot", "--console=read-only",
                                "--bind=%s:/results" % results), console, BOOT_TIMEOUT)
        timed_out = rc is None
        timings["boot"] = round(time.monotonic() - booted, 1)
        text = console.read_text(errors="replace")
        yield Boot(results, text, timings, timed_out)
    finally:
        shutil.rmtree(str(root), ignore_errors=True)


def test_unconfigured_box_fails_cleanly_at_boot(boot):
    """The package enables the unit; with the shipped config (no dev_sno, no URL) it exits
    78 at boot, once, and is not restarted."""
    installed = boot.step("installed")
    assert installed["shipped_keys"]["dev_sno"] == ['dev_sno: ""'], installed["shipped_keys"]
    assert installed["config_mode"] == "0o640"  # root:sereport
    assert installed["enabled"] == "enabled"
    show = installed["show"]
    assert (show["ActiveState"], show["ExecMainStatus"], show["NRestarts"]) == ("failed", "78", "0"), \
        show
    assert "dev_sno: missing" in boot.journal


def test_ready_as_notify_service(boot):
    start = boot.step("start")
    assert start["run"]["rc"] == 0, start["run"]["out"] + boot.context()
    assert start["is_active"] == "active", boot.context()
    show = start["show"]
    assert (show["Type"], show["ActiveState"], show["SubState"]) == ("notify", "active", "running")
    assert show["WatchdogUSec"] == "30s"
    # As its own system user, not root.
    user = start["passwd"].split(":")
    assert user[0] == "sereport" and start["uid"] == user[2] != "0", start
    # systemctl start returned on READY=1; the status line follows the beats.
    status = boot.step("beating")["show"]["StatusText"]
    assert status.startswith("beat ") and "report(s) accepted" in status, status
    assert "Active: active (running)" in boot.step("beating")["status"]


def test_beats_reach_a_receiver_in_the_container(boot):
    beating = boot.step("beating")
    assert beating["got"], "fewer than 3 heartbeats in 15 s:\n" + boot.context()
    problems = [check(r["body"])[1] for r in boot.received]  # the receiver's checks
    assert not any(problems), problems
    first = boot.beats(dev_sno="ZKZCPI000120190807142601")
    assert first[0]["gateway_status"] == "online"
    assert first[0]["gateway_name"] == "sereport-test"
    assert "beat_seq" not in first[0]  # extensions are off by default


def test_systemctl_reload(boot):
    reload = boot.step("reload")
    assert reload["signature_unchanged"], "the config edit changed the file's inode, size or mtime"
    assert reload["run"]["rc"] == 0, "systemctl reload sereport failed:\n%s%s" % (
        reload["run"]["out"], boot.context())
    assert reload["got"], "no heartbeat with the dev_sno set before the reload:\n" + boot.context()
    assert "config reloaded (SIGHUP): dev_sno" in boot.journal
    assert reload["show"]["MainPID"] == boot.step("start")["show"]["MainPID"]
    assert reload["show"]["ActiveState"] == "active"


def test_plain_save_reloads(boot):
    saved = boot.step("file_save")
    assert saved["got"], "no heartbeat with the new dev_sno and beat_seq:\n" + boot.context()
    assert "config reloaded (file changed): dev_sno; extensions" in boot.journal
    assert saved["show"]["MainPID"] == boot.step("start")["show"]["MainPID"]
    assert saved["show"]["NRestarts"] == "0"
    # The hardened unit still lets the kernel be asked whether its clock is synchronised.
    extended = [r["body"] for r in boot.received
                if isinstance(r.get("body"), dict) and "beat_seq" in r["body"]]
    assert extended, boot.context()
    ext = extended[-1]["gateway_ext_data"]
    assert isinstance(ext.get("clock_synced"), bool), ext
    assert isinstance(ext.get("uptime"), int) and ext["uptime"] > 0, ext
    assert "cannot read clock_synced" not in boot.journal


def test_stop_sends_the_offline_beat(boot):
    stop = boot.step("stop")
    assert stop["run"]["rc"] == 0, stop["run"]["out"]
    assert stop["run"]["seconds"] < 3, stop["run"]
    assert stop["is_active"] == "inactive"
    assert stop["show"]["Result"] == "success", stop["show"]
    offline = boot.beats(gateway_status="offline")
    assert len(offline) == 1, boot.context()
    assert offline[0]["dev_sno"] == "ZKZCPI000120190807142603"
    assert boot.received[-1]["body"]["gateway_status"] == "offline"
    assert "stopped after" in boot.journal


def test_journal_has_no_traceback(boot):
    boot.step("stop")
    assert boot.journal.strip(), "journalctl -u sereport was empty"
    assert "Traceback" not in boot.journal, boot.journal
    for line in boot.journal.splitlines():
        assert "Failed at step" not in line and "status=203" not in line, line
