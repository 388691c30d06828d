"""What the local API and /metrics see of the running agent.

A View holds the reporter (its figures, its registry), the config in force
and the one thing the API may ask of the daemon: a reload.  It never holds
the Daemon itself, so the API and the metrics cannot reach into the loops,
and the daemon imports them, never the other way round.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from sereport import __version__
from sereport.config import Config
from sereport.box.gateway import READINGS
from sereport.devices.monitor import describe
from sereport.report.reporter import Reporter


COUNTS = ("sent_ok", "sent_failed", "events_ok", "events_failed")  # /metrics has them


class View:
    def __init__(self, reporter: Reporter, config_in_force: Callable[[], Config],
                 request_reload: Callable[[str], None]):
        self.reporter = reporter
        self._config = config_in_force
        self.request_reload = request_reload
        self.config_lock = threading.Lock()  # one config change at a time (API)
        self.change_token = ""  # service.token: what a change needs when api_token is empty
        self.started = time.monotonic()
        self.started_at = time.time()

    @property
    def cfg(self) -> Config:
        return self._config()

    @property
    def registry(self):
        return self.reporter.registry

    def uptime(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def device_record(self, device) -> dict:
        return describe(device, self.reporter.registry,
                        self.reporter.monitor.states().get(device.id))

    def status(self) -> dict:
        reporter, monitor = self.reporter, self.reporter.monitor
        states = monitor.states()
        return {
            "version": __version__,
            "started_at": self.started_at,
            "uptime_seconds": self.uptime(),
            "interval": self.cfg.interval,
            "beats": reporter.beats,
            "targets": [{k: v for k, v in t.items() if k not in COUNTS}
                        for t in reporter.targets()],
            "event_reports": {"enabled": self.cfg.report_on_change, "sent": reporter.events.sent,
                              "carried_by_beats": reporter.events.carried,
                              "last": reporter.last_event},
            "box": {k: v for k, v in reporter.gateway.readings.items() if k in READINGS},
            "probe_cycles": monitor.cycles,
            "last_probe_cycle_seconds": round(monitor.last_cycle_seconds, 3),
            "devices_online": sum(s.status == "online" for s in states.values()),
            "devices": [self.device_record(d) for d in reporter.registry.devices()],
        }
