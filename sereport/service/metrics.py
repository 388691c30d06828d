"""The Prometheus text exposition of /metrics, made by prometheus_client.

At each scrape a collector reads the view (the reporter's counts, the monitor's
states) into metric families, and ``generate_latest`` writes them in the text
format 0.0.4: one family per metric, its samples together under its HELP and
TYPE, label values escaped, floats written so that they parse back exactly.

The families live in a registry of their own, made per scrape, never the
library's global REGISTRY (its process and GC collectors are not ours, and a
second daemon in one process must not share it).  prometheus_client is
imported at the first scrape, not with this module: it brings http.server,
urllib and ssl (about 7 MiB of RSS), which a daemon nobody scrapes never needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from sereport import __version__

if TYPE_CHECKING:
    from sereport.service.view import View

TARGET_LABELS = ("target", "format")
# The box's readings (the last beat's gateway_ext_data) as gauges with their units in the name:
# reading -> (metric, help, factor from the reading's unit to the metric's)
BOX_GAUGES = {
    "cpu_usage": ("cpu_usage_percent", "CPU time busy since the previous beat, %.", 1),
    "memory_bytes": ("memory_bytes", "Memory size.", 1),
    "memory_available_bytes": ("memory_available_bytes", "Memory available.", 1),
    "disk_bytes": ("data_disk_bytes", "Size of the /data file system.", 1),
    "disk_free_bytes": ("data_disk_free_bytes", "Free space on /data for unprivileged users.", 1),
    "tpu_usage": ("tpu_usage_percent", "TPU busy share over the driver's window, %.", 1),
    "vpu_usage": ("vpu_usage_percent", "Video cores' mean instant usage, %.", 1),
    "chip_temp": ("chip_temperature_celsius", "Chip temperature.", 1),
    "board_temp": ("board_temperature_celsius", "Board temperature.", 1),
    "tpu_memory_size": ("tpu_memory_bytes", "TPU memory (ION heap) size.", 2**30),
    "tpu_memory_usage": ("tpu_memory_usage_ratio", "Share of TPU memory in use.", 1),
    "uptime": ("boot_uptime_seconds", "Seconds since the box booted.", 1),
    "clock_synced": ("clock_synced", "1 when the kernel says its clock is synchronised.", 1),
}
DEVICE_LABELS = ("device", "name")


class Collector:
    """The figures of one view as prometheus_client metric families, read at scrape time."""

    def __init__(self, view: View):
        self.view = view

    def collect(self) -> Iterator[object]:
        from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                            InfoMetricFamily)

        view = self.view
        reporter = view.reporter
        monitor = reporter.monitor
        # Each name below is the exposed one minus the suffix prometheus_client adds:
        # counters get _total, info families _info.
        yield InfoMetricFamily("sereport", "sereport's version.", value={"version": __version__})
        yield GaugeMetricFamily("sereport_uptime_seconds", "Seconds since sereport started.",
                                value=view.uptime())
        yield CounterMetricFamily("sereport_beats", "Beats since start.", value=reporter.beats)

        targets = reporter.targets()
        sent = CounterMetricFamily("sereport_reports",
                                   "Reports POSTed per target and format, by result.",
                                   labels=TARGET_LABELS + ("result",))
        missed = GaugeMetricFamily("sereport_missed_beats",
                                   "Beats missed in a row per target and format.",
                                   labels=TARGET_LABELS)
        last = GaugeMetricFamily("sereport_last_success_timestamp_seconds",
                                 "Unix time of the last accepted report per target and format.",
                                 labels=TARGET_LABELS)
        events = CounterMetricFamily("sereport_event_reports",
                                     "Event reports (sent on a change, between the beats) "
                                     "POSTed per target and format, by result.",
                                     labels=TARGET_LABELS + ("result",))
        for t in targets:
            where = [t["url"], t["format"]]
            sent.add_metric(where + ["ok"], t["sent_ok"])
            sent.add_metric(where + ["failed"], t["sent_failed"])
            events.add_metric(where + ["ok"], t["events_ok"])
            events.add_metric(where + ["failed"], t["events_failed"])
            missed.add_metric(where, t["missed_beats"])
            if t["last_success_at"]:
                last.add_metric(where, round(t["last_success_at"], 3))
        yield from (sent, missed, last, events)
        for reading, value in sorted(reporter.gateway.readings.items()):
            if reading in BOX_GAUGES:
                name, text, factor = BOX_GAUGES[reading]
                yield GaugeMetricFamily("sereport_box_" + name, "The box's last reading: " + text,
                                        value=float(value) * factor)

        states = monitor.states()
        devices = GaugeMetricFamily("sereport_devices", "Devices by reported status.",
                                    labels=("status",))
        for status in ("online", "offline"):
            devices.add_metric([status], sum(s.status == status for s in states.values()))
        yield devices
        yield CounterMetricFamily("sereport_probe_cycles", "Probe cycles since start.",
                                  value=monitor.cycles)
        yield GaugeMetricFamily("sereport_probe_cycle_duration_seconds",
                                "Seconds the last probe cycle took.",
                                value=round(monitor.last_cycle_seconds, 6))

        each = GaugeMetricFamily("sereport_probe_duration_seconds",
                                 "Seconds each device's last probe took.", labels=DEVICE_LABELS)
        up = GaugeMetricFamily("sereport_device_up", "1 when the device is reported online.",
                               labels=DEVICE_LABELS)
        for device in reporter.registry.devices():
            state = states.get(device.id)
            if state is not None and state.probed:
                who = [device.id, device.name]
                each.add_metric(who, round(state.duration, 6))
                up.add_metric(who, int(state.status == "online"))
        yield from (each, up)


def exposition(view: View) -> str:
    """The text format 0.0.4 (``text/plain; version=0.0.4``) of the view's metrics."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(view))
    return generate_latest(registry).decode("utf-8")
