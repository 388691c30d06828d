"""The inside half of test_unit_boot.py: runs in the booted container as the oneshot
unit sereport-test.service (with the root's own python3, standard library only),
drives sereport through systemctl and writes what it saw to /results:

  results.json       every step: commands, exit codes, timings, systemctl properties
  received.jsonl     the heartbeats the sink got (json_sink.py, beside this file)
  journal.txt        journalctl -u sereport; journal-all.txt the whole boot

The unit powers the container off when this exits, whatever happened.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import traceback

RESULTS = "/results"
CONFIG = "/etc/sereport/sereport.yaml"
SEREPORT = "/opt/sereport/bin/sereport"
SINK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "json_sink.py")
PORT = 9528
URL = "http://127.0.0.1:%d/DeviceStatus" % PORT
RECEIVED = RESULTS + "/received.jsonl"
SNO_A = "ZKZCPI000120190807142601"
SNO_B = "ZKZCPI000120190807142602"  # same length as A: the SIGHUP step keeps the file's size
SNO_C = "ZKZCPI000120190807142603"
PROPS = ("ActiveState", "SubState", "Result", "StatusText", "MainPID", "NRestarts",
         "ExecMainStatus", "ExecMainCode", "Type", "NotifyAccess", "WatchdogUSec")

results: dict = {"steps": []}
T0 = time.monotonic()


def save() -> None:
    tmp = RESULTS + "/results.json.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    os.replace(tmp, RESULTS + "/results.json")


def step(name: str, **data) -> dict:
    data["name"] = name
    data["t"] = round(time.monotonic() - T0, 3)
    results["steps"].append(data)
    save()
    return data


def run(*args: str, timeout: float = 20) -> dict:
    start = time.monotonic()
    try:
        p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=timeout)
        rc, out = p.returncode, p.stdout
    except subprocess.TimeoutExpired as exc:
        rc, out = "timeout", str(exc.output or "")
    return {"cmd": " ".join(args), "rc": rc, "out": out,
            "seconds": round(time.monotonic() - start, 3)}


def show() -> dict:
    out = run("systemctl", "show", "sereport", "-p", ",".join(PROPS))["out"]
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def received() -> list:
    try:
        with open(RECEIVED, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


def wait_for(what, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.2)
    return bool(what())


def beats(**fields) -> list:
    """Received heartbeats whose body has all these field values."""
    return [r for r in received() if isinstance(r.get("body"), dict)
            and all(r["body"].get(k) == v for k, v in fields.items())]


def edit(text: str, **values: str) -> str:
    """Set top-level keys of the YAML text (a key missing from it is appended)."""
    for key, value in values.items():
        text, n = re.subn(r"(?m)^%s:.*$" % re.escape(key), "%s: %s" % (key, value), text)
        if not n:
            text += "\n%s: %s\n" % (key, value)
    return text


def read_config() -> str:
    with open(CONFIG, encoding="utf-8") as f:
        return f.read()


def main() -> None:
    results["boot"] = {"is-system-running": run("systemctl", "is-system-running")["out"].strip(),
                       "failed_units": run("systemctl", "--failed", "--no-legend")["out"]}
    # The package as installed, before it is configured.
    shipped = read_config()
    enabled = run("systemctl", "is-enabled", "sereport")["out"].strip()
    if enabled == "enabled":  # started at boot with the empty conffile: let it settle
        wait_for(lambda: show().get("ActiveState") not in ("activating", "deactivating"), 10)
    step("installed", enabled=enabled, show=show(),
         shipped_keys={k: re.findall(r"(?m)^%s:.*$" % k, shipped)
                       for k in ("dev_sno", "WEB_HEART_URL", "WEB_HEART_TIME", "extensions")},
         config_mode=oct(os.stat(CONFIG).st_mode & 0o777))

    # A sink of the tests' (the .deb carries no receiver: the box does not need its extra);
    # the test validates what it received with the receiver's checks, outside the root.
    receiver = run("systemd-run", "--unit=sereport-receiver", "--", "/usr/bin/python3", SINK,
                   str(PORT), RECEIVED)

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
            return True
        except OSError:
            return False
    step("receiver", run=receiver, listening=wait_for(listening, 15))

    with open(CONFIG, "w", encoding="utf-8") as f:
        f.write(edit(shipped, dev_sno=SNO_A, WEB_HEART_URL=URL, WEB_HEART_TIME="1"))
    start = run("systemctl", "start", "sereport", timeout=70)
    shown = show()
    try:
        with open("/proc/%s/status" % shown.get("MainPID", "0")) as status_file:
            uid = next(line.split()[1] for line in status_file if line.startswith("Uid:"))
    except (OSError, StopIteration):
        uid = None
    step("start", run=start, is_active=run("systemctl", "is-active", "sereport")["out"].strip(),
         show=shown, uid=uid, passwd=run("getent", "passwd", "sereport")["out"].strip(),
         status=run("systemctl", "status", "--no-pager", "-l", "sereport")["out"])
    got = wait_for(lambda: len(beats(dev_sno=SNO_A)) >= 3, 15)
    step("beating", got=got, count=len(beats(dev_sno=SNO_A)), show=show(),
         status=run("systemctl", "status", "--no-pager", "-l", "sereport")["out"])

    # systemctl reload (ExecReload: SIGHUP). The file changes in place with its inode, size
    # and mtime kept, so the daemon's once-a-second file check cannot see it: only SIGHUP can.
    st = os.stat(CONFIG)
    text = read_config().replace(SNO_A, SNO_B)
    with open(CONFIG, "r+", encoding="utf-8") as f:
        f.write(text)
    os.utime(CONFIG, ns=(st.st_atime_ns, st.st_mtime_ns))
    st2 = os.stat(CONFIG)
    unchanged = (st.st_ino, st.st_size, st.st_mtime_ns) == (st2.st_ino, st2.st_size, st2.st_mtime_ns)
    reload = run("systemctl", "reload", "sereport", timeout=30)
    got = wait_for(lambda: bool(beats(dev_sno=SNO_B)), 10)
    step("reload", signature_unchanged=unchanged, run=reload, got=got, show=show())

    # A plain save, as an editor does it (a new file renamed over the old one): no systemctl.
    text = edit(read_config(), dev_sno=SNO_C, extensions="[beat_seq, clock_synced, uptime]")
    with open(CONFIG + ".new", "w", encoding="utf-8") as f:
        f.write(text)
    old = os.stat(CONFIG)  # as editors do: the new file keeps the old one's owner and mode
    os.chown(CONFIG + ".new", old.st_uid, old.st_gid)
    os.chmod(CONFIG + ".new", old.st_mode & 0o777)
    os.replace(CONFIG + ".new", CONFIG)
    got = wait_for(lambda: any("beat_seq" in r["body"] for r in beats(dev_sno=SNO_C)), 10)
    step("file_save", got=got, show=show())

    before = len(received())
    stop = run("systemctl", "stop", "sereport", timeout=30)
    wait_for(lambda: bool(beats(gateway_status="offline")), 3)
    step("stop", run=stop, received_during_stop=len(received()) - before,
         is_active=run("systemctl", "is-active", "sereport")["out"].strip(), show=show())


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        results["error"] = traceback.format_exc()
        print(results["error"], file=sys.stderr)
    finally:
        results["seconds"] = round(time.monotonic() - T0, 3)
        try:
            for name, args in (("journal.txt", ("-u", "sereport")), ("journal-all.txt", ())):
                out = run("journalctl", "-b", "--no-pager", "-o", "short-monotonic", *args)["out"]
                with open(RESULTS + "/" + name, "w", encoding="utf-8") as f:
                    f.write(out)
            run("systemctl", "stop", "sereport-receiver")
        finally:
            results["done"] = True
            save()
