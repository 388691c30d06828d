"""Every benchmark of sereport against the naive baseline, in one run.

Usage: python bench/run.py [--quick] [--only FIGURES]   (bash bench/run.sh installs what it
needs first; --only 24 runs figures 2 and 4 and writes no RESULTS.md)
Writes bench/RESULTS.md.  Everything runs on loopback, bounded in time, and
stops by itself; the full run takes about 13 minutes, --quick about 3.
"""

from __future__ import annotations

import datetime
import os
import platform as host
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness import (PYTHON, ROOT, SEREPORT, Camera, DeviceFarm, Platform, Proc, arrivals,
                     cpu_seconds, rss_kib, statuses, write_config)

QUICK = "--quick" in sys.argv
WORK = Path(tempfile.mkdtemp(prefix="sereport-bench-"))
ROWS: list[tuple] = []  # (figure, measure, sereport, baseline, target, met)


def row(figure, measure, ours, theirs, target="", met=None):
    ROWS.append((figure, measure, ours, theirs, target, "" if met is None else ("yes" if met else "NO")))
    print(f"{figure:<4} {measure:<52} sereport {ours:<14} baseline {theirs:<14} {target}", flush=True)


def both(name, licence_base, platform, interval, urls, extra=""):
    """Start sereport and the baseline side by side, each with its own licence code."""
    procs = {}
    for kind in ("sereport", "baseline"):
        directory = WORK / f"{name}-{kind}"
        directory.mkdir()
        cfg = write_config(directory / "sereport.yaml", platform.url, interval, urls,
                           f"{licence_base}{kind.upper()}", extra)
        procs[kind] = Proc(kind, cfg)
    return procs


def stop_all(procs):
    for proc in procs.values():
        proc.stop()


# 1. steady RSS ---------------------------------------------------------------------

def steady_rss(farm):
    settle = 15 if QUICK else 60
    baseline_idle = None
    for count in (0, 100, 500):
        platform = Platform()
        procs = both(f"rss{count}", "RSS", platform, 5, farm.urls(answering=count))
        time.sleep(settle)
        rss = {k: rss_kib(p.pid) / 1024 for k, p in procs.items()}
        stop_all(procs)
        platform.close()
        if count == 0:
            baseline_idle = rss["baseline"]
        # 100 devices with the API running: at most 1.2 x the naive agent idle, this run.
        target = {0: None, 100: round(1.2 * baseline_idle, 1), 500: 32}[count]
        shown = (f"<= {target} MiB (1.2 x baseline idle)" if count == 100
                 else f"<= {target} MiB" if target else "")
        row("1", f"RSS after {settle} s, {count} devices, API on (MiB)", f"{rss['sereport']:.1f}",
            f"{rss['baseline']:.1f}", shown, rss["sereport"] <= target if target else None)


# 2. CPU per beat ---------------------------------------------------------------------

def cpu_per_beat(farm):
    window = 10 if QUICK else 30
    for count in (0, 100):
        platform = Platform()
        procs = both(f"cpu{count}", "CPU", platform, 1, farm.urls(answering=count))
        time.sleep(3)
        start = {k: (cpu_seconds(p.pid), len(arrivals(platform, f"CPU{k.upper()}")))
                 for k, p in procs.items()}
        time.sleep(window)
        per_beat = {}
        for k, p in procs.items():
            beats = len(arrivals(platform, f"CPU{k.upper()}")) - start[k][1]
            per_beat[k] = (cpu_seconds(p.pid) - start[k][0]) * 1000 / max(beats, 1)
        stop_all(procs)
        platform.close()
        target = {0: 3, 100: 10}[count]
        row("2", f"CPU per beat, {count} devices, 1 s interval (ms)", f"{per_beat['sereport']:.2f}",
            f"{per_beat['baseline']:.2f}", f"<= {target} ms", per_beat["sereport"] <= target)
    # The knobs: a new connection for every probe; probing every 5 s while beating every second.
    # (The first is for comparison, not a target: the default keeps connections.)
    for name, extra, measure, target in (
            ("KNOBNEW", "probe_keep_connections: false\n", "no kept connections", None),
            ("KNOBFIVE", "probe_interval: 5\n", "probe_interval 5 s", 10)):
        platform = Platform()
        directory = WORK / f"cpu-{name.lower()}"
        directory.mkdir()
        cfg = write_config(directory / "sereport.yaml", platform.url, 1, farm.urls(answering=100),
                           name, extra)
        proc = Proc("sereport", cfg)
        time.sleep(3)
        cpu0, beats0 = cpu_seconds(proc.pid), len(arrivals(platform, name))
        time.sleep(window)
        beats = len(arrivals(platform, name)) - beats0
        per_beat = (cpu_seconds(proc.pid) - cpu0) * 1000 / max(beats, 1)
        proc.stop()
        platform.close()
        row("2", f"CPU per beat, 100 devices, 1 s interval, {measure} (ms)", f"{per_beat:.2f}",
            "(no such knob)", f"<= {target} ms" if target else "",
            per_beat <= target if target else None)


# 3. probe fan-out ---------------------------------------------------------------------

def fan_out(farm):
    """One cycle over 500 devices: sereport at a 1 s and a 0.2 s probe timeout, the baseline at
    0.2 s only (its multiple is the count of dead devices whatever the timeout, and at 1 s it
    would take 4 minutes)."""
    from sereport import config
    from sereport.devices.monitor import Monitor
    from sereport.devices.registry import Registry

    quarter = 25 if QUICK else 125
    urls = farm.urls(answering=quarter, refusing=quarter, hanging=quarter, silent=quarter)
    n = 4 * quarter
    paths = {}
    for timeout in (1.0, 0.2):
        directory = WORK / f"fanout-{timeout}"
        directory.mkdir()
        paths[timeout] = write_config(directory / "sereport.yaml", "http://127.0.0.1:9/x", 5, urls,
                                      "FAN", f"probe_timeout: {timeout}\n"
                                             f"probe_connect_timeout: {timeout}\n")
        cfg = config.load(str(paths[timeout]))
        monitor = Monitor(cfg, Registry(cfg.registry_path, cfg.devices))
        monitor.cycle()  # warm: imports, the event loop
        started = time.monotonic()
        states = monitor.cycle()
        ours = time.monotonic() - started
        monitor.close()
        assert {s.reason for s in states.values()} == {"ok", "refused", "timeout"}, "a farm peer misbehaved"
        if timeout == 1.0:
            row("3", f"probe cycle, {n} devices, 1/4 each kind, timeout 1 s (x timeout)",
                f"{ours:.2f}x", "", "<= 1.1x", ours <= 1.1)
    # The baseline's probe: the same devices in turn, with the same timeout.
    code = ("import sys, time, runpy\n"
            f"sys.argv = ['baseline.py', {str(paths[0.2])!r}]\n"
            f"ns = runpy.run_path({str(ROOT / 'bench' / 'baseline.py')!r}, run_name='baseline')\n"
            "t = time.monotonic()\n"
            "[ns['probe'](d) for d in ns['DEVICES']]\n"
            "print(time.monotonic() - t)")
    baseline = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=900)
    theirs = float(baseline.stdout.strip())
    row("3", f"probe cycle, {n} devices, 1/4 each kind, timeout 0.2 s (x timeout)",
        f"{ours / 0.2:.2f}x", f"{theirs / 0.2:.0f}x", "", None)


# 4. beat accuracy ---------------------------------------------------------------------

def accuracy(farm):
    beats = 30 if QUICK else 300
    platform = Platform()
    platform.set("slow")
    platform.delay = 0.3
    procs = both("accuracy", "ACC", platform, 1, farm.urls(answering=100))
    time.sleep(beats + 3)
    stop_all(procs)
    platform.close()
    for kind in ("sereport", "baseline"):
        times = arrivals(platform, f"ACC{kind.upper()}")
        dev = [t - (times[0] + k) for k, t in enumerate(times)]
        mean = statistics.mean(abs(d) for d in dev) * 1000
        worst = max(abs(d) for d in dev) * 1000
        procs[kind].result = (len(times), mean, worst, dev[-1] * 1000)
    s, b = procs["sereport"].result, procs["baseline"].result
    row("4", f"beats delivered in {beats} s at 1 s (slow platform, 100 devices)", f"{s[0]}", f"{b[0]}")
    row("4", "mean deviation from the grid (ms)", f"{s[1]:.1f}", f"{b[1]:.0f}", "<= 5 ms", s[1] <= 5)
    row("4", "max deviation from the grid (ms)", f"{s[2]:.1f}", f"{b[2]:.0f}", "<= 50 ms", s[2] <= 50)
    row("4", "cumulative drift at the end (ms)", f"{s[3]:+.1f}", f"{b[3]:+.0f}", "0 (no drift)",
        abs(s[3]) <= 50)


# 5. start-up ---------------------------------------------------------------------------

def startup():
    runs = 3 if QUICK else 5
    first = {"sereport": [], "baseline": []}
    for i in range(runs):
        platform = Platform()
        procs = both(f"first{i}", "FIRST", platform, 1, [])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
                arrivals(platform, f"FIRST{k.upper()}") for k in procs):
            time.sleep(0.005)
        for kind, proc in procs.items():
            got = arrivals(platform, f"FIRST{kind.upper()}")
            first[kind].append((got[0] - proc.started) * 1000 if got else float("nan"))
        stop_all(procs)
        platform.close()
    s, b = statistics.median(first["sereport"]), statistics.median(first["baseline"])
    row("5", f"process start to first heartbeat received (ms, median of {runs})", f"{s:.0f}",
        f"{b:.0f}", "<= 300 ms", s <= 300)
    directory = WORK / "dry"
    directory.mkdir()
    cfg = write_config(directory / "sereport.yaml", "http://127.0.0.1:9/x", 5, [], "DRY")
    walls = {}
    for kind, args in (("sereport", [SEREPORT, "--config", str(cfg), "--dry-run"]),
                       ("baseline", [PYTHON, str(ROOT / "bench" / "baseline.py"), str(cfg), "--dry-run"])):
        times = []
        for _ in range(runs):
            started = time.monotonic()
            subprocess.run(args, capture_output=True, check=True, timeout=60)
            times.append((time.monotonic() - started) * 1000)
        walls[kind] = statistics.median(times)
    row("5", f"--dry-run wall time (ms, median of {runs})", f"{walls['sereport']:.0f}",
        f"{walls['baseline']:.0f}", "<= 300 ms", walls["sereport"] <= 300)


# 6. soak ---------------------------------------------------------------------------------

def soak():
    interval = 0.1
    warm, hour = (100, 300) if QUICK else (100, 720)  # 720 beats = 1 hour at 5 s
    platform = Platform()
    procs = both("soak", "SOAK", platform, interval, [], "probe_timeout: 0.5\n")
    stop = threading.Event()

    def flap():
        rng = random.Random(6)
        while not stop.is_set():
            platform.set(rng.choice(["ok", "ok", "error", "hang", "refuse", "slow"]))
            stop.wait(rng.uniform(0.3, 2.0))
            if len(platform.arrivals) > 5000:
                del platform.arrivals[:-100]

    threading.Thread(target=flap, daemon=True).start()
    time.sleep(warm * interval)
    start = {k: rss_kib(p.pid) for k, p in procs.items()}
    time.sleep(hour * interval)
    growth = {k: rss_kib(p.pid) - start[k] for k, p in procs.items()}
    stop.set()
    stop_all(procs)
    platform.set("ok")
    platform.close()
    row("6", f"RSS growth over {hour} beats at {interval} s, platform flapping (KiB)",
        f"{growth['sereport']:+d}", f"{growth['baseline']:+d}", "<= 1024 KiB",
        growth["sereport"] <= 1024)


# 7. a camera that stops: how soon the platform hears of it ------------------------------

def change_latency():
    """WEB_HEART_TIME 30, probe_interval 1, offline_after 1: a camera process is killed at a
    random moment of the beat interval; the time until a report saying it is offline
    arrives. sereport sends an event report; the baseline can only tell at its next beat."""
    interval, trials = 30, 1 if QUICK else 3
    rng = random.Random(7)
    took = {"sereport": [], "baseline": []}
    for trial in range(trials):
        camera, platform = Camera(), Platform()
        procs = both(f"change{trial}", "CHANGE", platform, interval, [camera.url],
                     "probe_interval: 1\noffline_after: 1\n")
        try:
            # The baseline's first beat comes one interval after its start (schedule's rule).
            deadline = time.monotonic() + interval + 10
            while time.monotonic() < deadline and not all(
                    statuses(platform, f"CHANGE{k.upper()}") for k in procs):
                time.sleep(0.05)
            time.sleep(rng.uniform(0, interval / 3))
            stopped = time.monotonic()
            camera.close()
            deadline = stopped + interval + 10
            for kind in procs:
                licence = f"CHANGE{kind.upper()}"
                while time.monotonic() < deadline and not any(
                        when > stopped and status == "offline"
                        for when, status in statuses(platform, licence)):
                    time.sleep(0.02)
                told = [when for when, status in statuses(platform, licence)
                        if when > stopped and status == "offline"]
                took[kind].append(told[0] - stopped if told else float("nan"))
        finally:
            stop_all(procs)
            camera.close()
            platform.close()
    s, b = statistics.median(took["sereport"]), statistics.median(took["baseline"])
    row("7", f"camera stopped to offline at the platform, 30 s beat (s, median of {trials})",
        f"{s:.2f}", f"{b:.2f}", "<= 2.5 s", s <= 2.5)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), host.machine())
    bare = subprocess.run([PYTHON, "-c", "print(open('/proc/self/status').read())"],
                          capture_output=True, text=True).stdout
    bare_rss = next(line.split()[1] for line in bare.splitlines() if line.startswith("VmRSS"))
    mem = next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return (f"{host.system()} {host.release()} {host.machine()}, {os.cpu_count()} CPU(s) "
            f"({cpu}), {int(mem) // 1024} MiB RAM; Python {host.python_version()} "
            f"({PYTHON}, {int(bare_rss) / 1024:.1f} MiB RSS bare)")


def write_results():
    lines = ["# sereport benchmarks", "",
             f"Run {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} with `bash bench/run.sh"
             f"{' --quick' if QUICK else ''}` on {machine()}.", "",
             "The baseline (`bench/baseline.py`) is the obvious implementation: the `schedule` "
             "library's `every(N).seconds` loop, sequential blocking probes with the same "
             "timeout, `requests.post` per beat. Both run side by side on loopback in the same "
             "run; every figure is from this run.", "",
             "| # | measure | sereport | baseline | target | met |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {' | '.join(str(c) for c in r)} |" for r in sorted(ROWS, key=lambda r: r[0])]
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {ROOT / 'bench' / 'RESULTS.md'}")


FIGURES = {"1": steady_rss, "2": cpu_per_beat, "3": fan_out, "4": accuracy, "5": startup, "6": soak,
           "7": change_latency}
ORDER = "3521764"  # quick ones first


def main():
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else ORDER
    farm = DeviceFarm()
    try:
        for figure in ORDER:
            if figure in only:
                fn = FIGURES[figure]
                fn(farm) if fn.__code__.co_argcount else fn()
    finally:
        farm.close()
    if only == ORDER:
        write_results()


if __name__ == "__main__":
    main()
