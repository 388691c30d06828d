"""/metrics: the exposition of a real reporter, read back by prometheus_client's parser and
checked by promtool, and once over the real API of a running daemon."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from openapi_check import check_response
from peers import Platform, need
from procs import wait_for
from sereport import __version__, config
from sereport.report import reporter as reporter_module
from sereport.report.delivery import Result
from sereport.report.reporter import Reporter
from sereport.service import metrics
from sereport.service.daemon import Daemon
from sereport.service.view import View

LICENCE = "ZKZCPI000120190807142601"
LAST_SUCCESS = 1795320000.123  # %g made it 1.79532e+09: 12 minutes off
TARGET = "http://127.0.0.1:9/DeviceStatus"
ODD_NAME = 'cam "A" \\ back\nslash'  # a quote, a backslash and a newline
CONFIG = f"""\
dev_sno: {LICENCE}
WEB_HEART_URL: {TARGET}
formats: both
devices:
  - {{url: "127.0.0.9", name: {json.dumps(ODD_NAME)}, probe: none, status: online}}
  - {{url: "127.0.0.10", name: plain, probe: none, status: offline}}
"""
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# family (as the parser names it) -> (type, the documented sample name)
FAMILIES = {
    "sereport_info": ("gauge", "sereport_info"),
    "sereport_uptime_seconds": ("gauge", "sereport_uptime_seconds"),
    "sereport_beats": ("counter", "sereport_beats_total"),
    "sereport_reports": ("counter", "sereport_reports_total"),
    "sereport_event_reports": ("counter", "sereport_event_reports_total"),
    "sereport_missed_beats": ("gauge", "sereport_missed_beats"),
    "sereport_last_success_timestamp_seconds": ("gauge", "sereport_last_success_timestamp_seconds"),
    "sereport_devices": ("gauge", "sereport_devices"),
    "sereport_probe_cycles": ("counter", "sereport_probe_cycles_total"),
    "sereport_probe_cycle_duration_seconds": ("gauge", "sereport_probe_cycle_duration_seconds"),
    "sereport_probe_duration_seconds": ("gauge", "sereport_probe_duration_seconds"),
    "sereport_device_up": ("gauge", "sereport_device_up"),
}


@pytest.fixture
def view(write_config, monkeypatch):
    """A view of a reporter with two probed devices, a gateway target last accepted at
    LAST_SUCCESS and a media target that never was."""
    reporter = Reporter(config.load(write_config(CONFIG)))
    reporter.monitor.cycle()
    reporter.beats = 3
    with monkeypatch.context() as patch:
        patch.setattr(reporter_module.time, "time", lambda: LAST_SUCCESS)
        reporter._note(Result(TARGET, "gateway", True, "HTTP 200 OK", 200))
        reporter._note(Result(TARGET, "media", False, "connection refused"))
    yield View(reporter, lambda: reporter.cfg, lambda why: None)
    reporter.close()


def families(text: str) -> dict:
    parsed = list(text_string_to_metric_families(text))
    names = [f.name for f in parsed]
    assert len(names) == len(set(names)), f"a family split in pieces: {names}"
    return {f.name: f for f in parsed}


def samples(family) -> dict:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples}


def test_one_family_per_metric_with_its_type_and_documented_name(view):
    found = families(metrics.exposition(view))
    assert set(found) == set(FAMILIES)
    for name, (kind, sample_name) in FAMILIES.items():
        assert found[name].type == kind, name
        assert {s.name for s in found[name].samples} == {sample_name}, name
    assert samples(found["sereport_info"]) == {(("version", __version__),): 1}
    assert samples(found["sereport_beats"]) == {(): 3}
    assert samples(found["sereport_probe_cycles"]) == {(): 1}
    assert samples(found["sereport_devices"]) == {(("status", "online"),): 1,
                                                  (("status", "offline"),): 1}
    assert found["sereport_uptime_seconds"].samples[0].value >= 0
    assert found["sereport_probe_cycle_duration_seconds"].samples[0].value >= 0


def test_per_target_samples_and_the_last_success_to_the_millisecond(view):
    found = families(metrics.exposition(view))

    def at(fmt, **more):
        return tuple(sorted({"target": TARGET, "format": fmt, **more}.items()))

    assert samples(found["sereport_reports"]) == {
        at("gateway", result="ok"): 1, at("gateway", result="failed"): 0,
        at("media", result="ok"): 0, at("media", result="failed"): 1}
    assert samples(found["sereport_missed_beats"]) == {at("gateway"): 0, at("media"): 1}
    # Exact: the float read back is the one written, not %g's 1795320000.
    assert samples(found["sereport_last_success_timestamp_seconds"]) == {at("gateway"): LAST_SUCCESS}


def test_every_devices_samples_in_its_own_family_with_labels_escaped(view):
    text = metrics.exposition(view)
    found = families(text)
    devices = {d.name: d.id for d in view.reporter.registry.devices()}
    assert set(devices) == {ODD_NAME, "plain"}

    def of(name):
        return (("device", devices[name]), ("name", name))

    assert samples(found["sereport_device_up"]) == {of(ODD_NAME): 1, of("plain"): 0}
    durations = samples(found["sereport_probe_duration_seconds"])
    assert set(durations) == {of(ODD_NAME), of("plain")} and min(durations.values()) >= 0
    assert 'name="cam \\"A\\" \\\\ back\\nslash"' in text  # as the format writes them
    # The lines of a family follow its HELP and TYPE, never another family's.
    current = None
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            current = line.split()[2]
        elif not line.startswith("#"):
            assert line.split("{")[0].split(" ")[0] == current, line


def test_promtool_accepts_the_exposition(view):
    need(shutil.which("promtool") is not None, "promtool (Debian package prometheus)")
    text = metrics.exposition(view)
    done = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), text


def test_own_registry_every_scrape_the_global_one_untouched(view):
    import prometheus_client

    before = set(prometheus_client.REGISTRY._collector_to_names)
    first, second = metrics.exposition(view), metrics.exposition(view)  # nothing registered twice
    assert set(families(first)) == set(families(second)) == set(FAMILIES)
    assert set(prometheus_client.REGISTRY._collector_to_names) == before
    assert "sereport_" not in prometheus_client.generate_latest().decode()


def test_an_unscraped_daemon_never_loads_prometheus_client():
    script = ("import sys\nimport sereport.cli, sereport.service.daemon, sereport.service.api\n"
              "print('prometheus_client' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "False"), done.stderr


def test_metrics_over_the_real_api(write_config):
    platform = Platform()
    daemon = Daemon(config.load(write_config(CONFIG.replace(TARGET, platform.url))))
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: daemon.api is not None)
        wait_for(lambda: daemon.reporter.monitor.cycles >= 1 and any(
            t["last_success_at"] for t in daemon.reporter.targets()), 10)
        answer = requests.get(f"http://127.0.0.1:{daemon.api.server_port}/metrics", timeout=10)
        assert answer.headers["Content-Type"] == CONTENT_TYPE
        check_response("GET", "/metrics", answer.status_code, CONTENT_TYPE, answer.text)
        assert answer.status_code == 200
        found = families(answer.text)
        box = {name for name in found if name.startswith("sereport_box_")}
        assert set(found) - box == set(FAMILIES)  # and the box's readings this machine has
        assert all(found[name].type == kind for name, (kind, _) in FAMILIES.items())
        accepted = {t["format"]: round(t["last_success_at"], 3)
                    for t in daemon.reporter.targets() if t["last_success_at"]}
        assert {s.labels["format"]: s.value
                for s in found["sereport_last_success_timestamp_seconds"].samples} == accepted
        assert abs(accepted["gateway"] - time.time()) < 60
        up = {s.labels["name"]: s.value for s in found["sereport_device_up"].samples}
        assert up == {ODD_NAME: 1, "plain": 0}
    finally:
        daemon.stop.set()
        daemon.wake.set()
        thread.join(5)
        platform.close()


def test_the_box_vitals_in_status_and_metrics_are_the_reports(write_config):
    """extensions: [ai, uptime, clock_synced] on an SE7's files (tests/box/fixtures): /status
    and /metrics of a running daemon show what its last report said, with units in the names."""
    platform = Platform()
    root = Path(__file__).parent.parent / "box" / "fixtures" / "se7-sophonsdk"
    text = (CONFIG.replace(TARGET, platform.url)
            + f"host_root: {root}\nextensions: [ai, uptime, clock_synced]\n")
    daemon = Daemon(config.load(write_config(text)))
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        gateway = wait_for(lambda: daemon.api is not None and [
            body for body in platform.bodies() if "gateway_ext_data" in body], 10)
        ext = gateway[-1]["gateway_ext_data"]
        base = f"http://127.0.0.1:{daemon.api.server_port}"
        status = requests.get(base + "/status", timeout=10)
        check_response("GET", "/status", status.status_code, "application/json", status.json())
        box = status.json()["box"]
        for field in ("tpu_usage", "vpu_usage", "chip_temp", "board_temp", "tpu_memory_size",
                      "tpu_memory_usage", "uptime", "clock_synced"):
            assert box[field] == ext[field], field
        found = families(requests.get(base + "/metrics", timeout=10).text)
        gauges = {name: found[name].samples[0].value for name in found
                  if name.startswith("sereport_box_")}
        assert gauges["sereport_box_tpu_usage_percent"] == ext["tpu_usage"] == 35.0
        assert gauges["sereport_box_vpu_usage_percent"] == ext["vpu_usage"] == 20.0
        assert gauges["sereport_box_chip_temperature_celsius"] == ext["chip_temp"] == 52.4
        assert gauges["sereport_box_board_temperature_celsius"] == ext["board_temp"] == 41.0
        assert gauges["sereport_box_tpu_memory_bytes"] == ext["tpu_memory_size"] * 2**30
        assert gauges["sereport_box_tpu_memory_usage_ratio"] == ext["tpu_memory_usage"] == 0.25
        assert gauges["sereport_box_boot_uptime_seconds"] == ext["uptime"] == 12345
        assert gauges["sereport_box_clock_synced"] == int(ext["clock_synced"])
        assert all(found[name].type == "gauge" for name in gauges)
    finally:
        daemon.stop.set()
        daemon.wake.set()
        thread.join(5)
        platform.close()
