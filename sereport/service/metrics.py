"""The Prometheus text exposition of /metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sereport import __version__

if TYPE_CHECKING:
    from sereport.service.view import View


def _label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}"


class _Family:
    def __init__(self, out: list[str], name: str, kind: str, help_text: str):
        self.out, self.name = out, name
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")

    def add(self, value: float, **labels: str) -> None:
        self.out.append(f"{self.name}{_labels(**labels)} {value:g}" if isinstance(value, float)
                        else f"{self.name}{_labels(**labels)} {value}")


def exposition(view: View) -> str:
    reporter = view.reporter
    out: list[str] = []
    _Family(out, "sereport_info", "gauge", "sereport's version.").add(1, version=__version__)
    _Family(out, "sereport_uptime_seconds", "gauge", "Seconds since sereport started.").add(
        view.uptime())
    _Family(out, "sereport_beats_total", "counter", "Beats since start.").add(reporter.beats)
    sent = _Family(out, "sereport_reports_total", "counter",
                   "Reports POSTed per target and format, by result.")
    targets = reporter.targets()
    for t in targets:
        sent.add(t["sent_ok"], target=t["url"], format=t["format"], result="ok")
        sent.add(t["sent_failed"], target=t["url"], format=t["format"], result="failed")
    missed = _Family(out, "sereport_missed_beats", "gauge",
                     "Beats missed in a row per target and format.")
    for t in targets:
        missed.add(t["missed_beats"], target=t["url"], format=t["format"])
    last = _Family(out, "sereport_last_success_timestamp_seconds", "gauge",
                   "Unix time of the last accepted report per target and format.")
    for t in targets:
        if t["last_success_at"]:
            last.add(round(t["last_success_at"], 3), target=t["url"], format=t["format"])
    states = reporter.monitor.states()
    devices = _Family(out, "sereport_devices", "gauge", "Devices by reported status.")
    for status in ("online", "offline"):
        devices.add(sum(s.status == status for s in states.values()), status=status)
    monitor = reporter.monitor
    _Family(out, "sereport_probe_cycles_total", "counter", "Probe cycles since start.").add(
        monitor.cycles)
    _Family(out, "sereport_probe_cycle_duration_seconds", "gauge",
            "Seconds the last probe cycle took.").add(round(monitor.last_cycle_seconds, 6))
    each = _Family(out, "sereport_probe_duration_seconds", "gauge",
                   "Seconds each device's last probe took.")
    up = _Family(out, "sereport_device_up", "gauge", "1 when the device is reported online.")
    for device in reporter.registry.devices():
        state = states.get(device.id)
        if state is not None and state.probed:
            each.add(round(state.duration, 6), device=device.id, name=device.name)
            up.add(int(state.status == "online"), device=device.id, name=device.name)
    return "\n".join(out) + "\n"
