"""One beat: snapshot the box and its devices, build the documents, send them.

A reload hands the reporter a new config, which it takes up at the start of
its next beat, so a beat never mixes two configs.  Per target it counts the
beats missed in a row and logs the first failure, each change of reason, a
reminder every ``REMIND_EVERY`` missed beats, and the recovery.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone

from sereport.config import Config
from sereport.report.delivery import Result, Sender
from sereport.report.events import Events
from sereport.box.gateway import Gateway
from sereport.devices.monitor import Monitor
from sereport.report.payload import documents
from sereport.devices.registry import Registry
from sereport.box.system import System, under

log = logging.getLogger(__name__)
REMIND_EVERY = 100
DEADLINE_SHARE = 0.9  # of the interval: a beat's POSTs end before the next slot
EVENT_MARGIN = 0.05  # of the interval: an event report ends this long before the next slot
BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"


class _Target:
    """What the log, /status and /metrics need to know about one URL and format."""

    def __init__(self) -> None:
        self.missed = 0
        self.down_since = 0.0
        self.reason = ""
        self.last: Result | None = None
        self.last_at = 0.0
        self.last_ok_at = 0.0
        self.sent_ok = 0
        self.sent_failed = 0
        self.events_ok = 0  # event reports, counted apart from the beats
        self.events_failed = 0


def _boot_id(host_root: str = "/") -> str:
    try:
        with open(under(host_root, BOOT_ID_FILE), encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""


class Reporter:
    def __init__(self, cfg: Config, system: System | None = None):
        self.cfg = cfg
        self.registry = Registry(cfg.registry_path, cfg.devices, cfg.path)
        self.monitor = Monitor(cfg, self.registry)
        self.gateway = Gateway(cfg, system)
        self.sender = Sender(cfg)
        self.beats = 0
        self.last_results: list[Result] = []
        self._targets: dict[tuple[str, str], _Target] = {}  # (format, redacted URL)
        self._pending: Config | None = None
        self._boot_id = _boot_id(cfg.host_root) if "boot_id" in cfg.extensions else ""
        self.events = Events(cfg.event_debounce, cfg.event_min_gap, cfg.report_on_change)
        self.monitor.on_change = self.events.notice
        self.last_event: dict | None = None  # when, why and how the last event report went
        self._snapshot = threading.Lock()  # a beat's and an event report's snapshots
        self._entries: dict = {}  # format -> payload.Entries: device entries kept between beats
        self._set_of: tuple | None = None  # the devices _device_set last described
        self._set: dict[str, str] = {}
        self._known = self._device_set()

    # --- configuration -------------------------------------------------------

    def reconfigure(self, cfg: Config) -> None:
        """Take up ``cfg`` at the start of the next beat (any thread may call this)."""
        self._pending = cfg

    def _apply_pending(self) -> None:
        cfg, self._pending = self._pending, None
        if cfg is None:
            return
        old, self.cfg = self.cfg, cfg
        if (cfg.registry_path, cfg.devices) != (old.registry_path, old.devices):
            self.registry = Registry(cfg.registry_path, cfg.devices, cfg.path)
            self.monitor.registry = self.registry
        self.monitor.reconfigure(cfg)
        self.gateway.reconfigure(cfg)
        self.sender.close()
        self.sender = Sender(cfg)
        self.events.configure(cfg.event_debounce, cfg.event_min_gap, cfg.report_on_change)
        if "boot_id" in cfg.extensions and not self._boot_id:
            self._boot_id = _boot_id(cfg.host_root)

    # --- a beat ----------------------------------------------------------------

    def documents(self, status: str = "online") -> list[tuple[str, dict]]:
        state = replace(self.gateway.collect(), status=status)
        devices = self.monitor.statuses(self.registry.devices())
        docs = documents(self.cfg, state, devices, self._entries)
        extra = self._extensions()
        return [(fmt, {**doc, **extra}) for fmt, doc in docs]

    def _extensions(self) -> dict:
        wanted, extra = self.cfg.extensions, {}
        if "beat_seq" in wanted:
            extra["beat_seq"] = self.beats
        if "boot_id" in wanted and self._boot_id:
            extra["boot_id"] = self._boot_id
        if "sent_at" in wanted:
            extra["sent_at"] = datetime.now(timezone.utc).isoformat(timespec="milliseconds") \
                .replace("+00:00", "Z")
        return extra

    def _device_set(self) -> dict[str, str]:
        """What identifies the reported device set: id -> name, and the given status of a
        device nobody probes (its record is all there is of it).  Made again only when the
        registry hands out other devices: the daemon looks every second, and with hundreds
        of devices the names (each URL parsed to hide its password) cost CPU and churn."""
        devices = self.registry.devices()
        if devices is not self._set_of:
            self._set_of = devices
            self._set = {d.id: d.shown + (f" ({d.status})" if d.probe_kind == "none" else "")
                         for d in devices}
        return self._set

    def watch_devices(self) -> bool:
        """Notice devices added or removed (CLI, API, files) since the last look; True when
        one was added, so the caller can have it probed at once."""
        now = self._device_set()
        if now is self._known:
            return False
        known, self._known = self._known, now
        added = [name for key, name in now.items() if known.get(key) != name]
        removed = [name for key, name in known.items() if now.get(key) != name]
        for name in removed:
            self.events.notice(f"device {name} removed")
        for name in added:
            self.events.notice(f"device {name} added")
        return bool(added)

    def beat(self, tick=None, tick_every: float | None = None) -> list[Result]:
        with self._snapshot:
            self._apply_pending()
            self.beats += 1
            self.events.beat_carries()  # before the snapshot: a change after it is sent later
            deadline = time.monotonic() + DEADLINE_SHARE * self.cfg.interval
            docs = self.documents()
        results = self.sender.send(self.cfg.urls, docs, deadline, tick, tick_every)
        for result in results:
            self._note(result)
        self.last_results = results
        return results

    def event_report(self, next_beat: float) -> list[Result]:
        """A full report now, between the beats, for the changes pending; it ends before
        ``next_beat`` (monotonic), so the grid's beat goes out on time.  Called from the
        event thread while a beat may be under way: the snapshot is taken under the lock
        the beat takes its own under, and the config is the one in force (a reload is
        taken up by the beat thread only)."""
        with self._snapshot:
            trigger = self.events.sending()
            if not trigger:
                return []
            cfg, sender = self.cfg, self.sender
            docs = self.documents()
        deadline = min(time.monotonic() + DEADLINE_SHARE * cfg.interval,
                       next_beat - EVENT_MARGIN * cfg.interval)
        results = sender.send(cfg.urls, docs, deadline)
        accepted = 0
        for r in results:
            target = self._targets.setdefault((r.format, r.url), _Target())
            if r.ok:
                target.events_ok += 1
                accepted += 1
            else:
                target.events_failed += 1
                log.warning("event report to %s failed: %s (the next beat reports the same)",
                            r.url, r.reason)
        log.info("event report (%s): %d/%d accepted", trigger, accepted, len(results))
        self.last_event = {"at": time.time(), "trigger": trigger, "accepted": accepted,
                           "reports": len(results)}
        return results

    def offline_beat(self, timeout: float = 1.0) -> list[Result]:
        """A last gateway report with gateway_status offline, bounded by ``timeout``.  Its
        snapshot is taken under the beat's lock (a beat may still be building one, and the
        entries kept between beats are shared); a snapshot still under way after half the
        timeout is not waited for: no offline report then.  Nor before the first probe
        cycle has ended (a stop soon after the start): it would call every device offline."""
        started = time.monotonic()
        if not self.monitor.first_cycle.is_set() and self.registry.devices():
            log.info("no offline report: stopped before the devices were first probed")
            return []
        if not self._snapshot.acquire(timeout=timeout / 2):
            log.warning("no offline report: a beat was still taking its snapshot")
            return []
        try:
            docs = [(fmt, doc) for fmt, doc in self.documents(status="offline")
                    if fmt == "gateway"]
        finally:
            self._snapshot.release()
        timeout = max(0.0, timeout - (time.monotonic() - started))
        if not docs or not self.cfg.urls:
            return []
        sender = Sender(self.cfg)
        sender.timeouts = (min(timeout / 2, sender.timeouts[0]), min(timeout / 2, sender.timeouts[1]))
        try:
            return sender.send(self.cfg.urls, docs, time.monotonic() + timeout)
        finally:
            sender.close()

    def summary(self) -> str:
        """One line for systemd's STATUS=: the last beat and the devices."""
        accepted = sum(r.ok for r in self.last_results)
        states = self.monitor.states()
        online = sum(s.status == "online" for s in states.values())
        return (f"beat {self.beats}: {accepted}/{len(self.last_results)} report(s) accepted; "
                f"{online}/{len(states)} device(s) online")

    def targets(self) -> list[dict]:
        """Per URL and format: the last result, missed beats, counts (for the API)."""
        views = []
        for (fmt, url), t in self._targets.items():
            last = t.last
            views.append({
                "url": url, "format": fmt, "missed_beats": t.missed,
                "down_since": t.down_since if t.missed else None,
                "last_beat_at": t.last_at or None, "last_success_at": t.last_ok_at or None,
                "last_result": None if last is None else {
                    "ok": last.ok, "reason": last.reason, "status": last.status,
                    "attempts": last.attempts, "seconds": round(last.elapsed, 3)},
                "sent_ok": t.sent_ok, "sent_failed": t.sent_failed,
                "events_ok": t.events_ok, "events_failed": t.events_failed})
        return views

    def _note(self, r: Result) -> None:
        target = self._targets.setdefault((r.format, r.url), _Target())
        target.last, target.last_at = r, time.time()
        if r.ok:
            target.sent_ok += 1
            target.last_ok_at = target.last_at
            if target.missed:
                since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(target.down_since))
                log.info("%s reachable again after %d missed beat(s), down since %s "
                         "(%s report)", r.url, target.missed, since, r.format)
            elif target.sent_ok == 1:
                log.info("%s accepted the first %s heartbeat (%s)", r.url, r.format, r.reason)
            log.debug("beat %d: %s report to %s: %s in %.0f ms", self.beats, r.format, r.url,
                      r.reason, r.elapsed * 1000)
            target.missed, target.reason = 0, ""
            return
        target.sent_failed += 1
        target.missed += 1
        if target.missed == 1:
            target.down_since = time.time()
        tries = f" after {r.attempts} attempts" if r.attempts > 1 else ""
        kind = re.sub(r"[\d.]+s\b", "Ns", r.reason)  # timeouts shrink as retries use up the beat
        if kind != target.reason:
            log.warning("beat %d: %s report to %s failed%s: %s", self.beats, r.format, r.url,
                        tries, r.reason)
        elif target.missed % REMIND_EVERY == 0:
            log.warning("%s still failing: %d beats missed in a row (%s)", r.url, target.missed,
                        r.reason)
        else:
            log.debug("beat %d: %s report to %s failed%s: %s", self.beats, r.format, r.url,
                      tries, r.reason)
        target.reason = kind

    def close(self) -> None:
        self.sender.close()
        self.monitor.close()
        self.gateway.close()
