"""Device liveness: probe cycles on their own cadence beside the beat.

A cycle probes every device at once (sereport.probes.engine, at most
probe_concurrency sockets open), each within the probe timeout, so a cycle
with hundreds of dead devices ends in about one timeout.  Hysteresis turns probe outcomes
into the reported status: a device goes offline after ``offline_after``
failed probes in a row and back online after ``online_after`` good ones;
its first probe sets it directly.  The beat reads the latest states and
never waits for a cycle in flight.  After each cycle the states are written
to ``<runtime_dir>/status.json`` for ``sereport devices list/show``: at
once when a result changes, otherwise every STATUS_EVERY seconds (only the
probe times would change, and rewriting the file each second costs more
than the probes themselves).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import resource
import threading
import time
from dataclasses import dataclass, replace

from sereport import atomic, limits, probes
from sereport.config import Config
from sereport.devices.records import Device
from sereport.probes.kept import Kept
from sereport.devices.registry import Registry

log = logging.getLogger(__name__)
STATUS_FILE = "status.json"
STATUS_EVERY = 10.0  # seconds between rewrites of status.json when no result changed


SHOWN_SHARED = 3  # devices a shared-IP warning names


@dataclass(frozen=True)
class DeviceState:
    status: str = "offline"
    reason: str = "not_probed"
    detail: str = ""
    checked_at: float = 0.0  # wall clock of the last probe, 0 before the first
    duration: float = 0.0  # seconds the last probe took
    fails: int = 0  # failed probes in a row
    successes: int = 0  # good probes in a row

    @property
    def probed(self) -> bool:
        return self.checked_at > 0


_STATE_FIELDS = tuple(DeviceState.__dataclass_fields__)


def _fields(state: DeviceState) -> dict:
    """asdict() without its deep copy: every field is a plain value."""
    return {name: getattr(state, name) for name in _STATE_FIELDS}


def settle(state: DeviceState, outcome, cfg: Config, now: float,
           duration: float) -> DeviceState:
    """The state after one probe outcome, hysteresis applied."""
    fails = 0 if outcome.ok else state.fails + 1
    successes = state.successes + 1 if outcome.ok else 0
    status = state.status
    if not state.probed:
        status = "online" if outcome.ok else "offline"
    elif outcome.ok and successes >= cfg.online_after:
        status = "online"
    elif not outcome.ok and fails >= cfg.offline_after:
        status = "offline"
    return DeviceState(status, outcome.reason, outcome.detail, now, duration, fails, successes)


def _status_json(devices: tuple[Device, ...], states: dict[str, DeviceState]) -> bytes:
    """status.json's text: what ``json.dumps`` gives for {id: {state..., "probe": ...}}, made
    one device at a time.  The whole mapping built first, then encoded, came to 900 KiB of
    objects at once with 500 devices, every STATUS_EVERY seconds: the probe thread's peak."""
    parts = []
    for device in devices:
        state = states.get(device.id)
        if state is not None:
            parts.append(json.dumps(device.id) + ": "
                         + json.dumps({**_fields(state), "probe": device.probe_kind}))
    text = "{" + ", ".join(parts) + "}"
    del parts
    return text.encode()


KEPT_MAX = 2048  # RTSP connections kept between cycles, at most
SPARE_FILES = 64  # open files left for everything but probes


def settings_of(cfg: Config, kept: Kept) -> probes.Settings:
    return probes.Settings(timeout=cfg.probe_timeout, connect_timeout=cfg.probe_connect_timeout,
                           photo_port=cfg.photo_port, photo_dir=cfg.photo_dir,
                           photo_fresh=cfg.photo_fresh,
                           kept=kept if cfg.probe_keep_connections else None)


def raise_open_file_limit(wanted: int) -> int:
    """Let probe sockets be open at once, if the hard limit allows; the soft limit after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d (%s): fewer probes "
                        "can run at once than probe_concurrency, and fewer RTSP connections "
                        "be kept", soft, target, exc)
        else:
            soft = target
    return soft


class Monitor:
    def __init__(self, cfg: Config, registry: Registry):
        self.registry = registry
        self._states: dict[str, DeviceState] = {}
        self._lock = threading.Lock()
        self.first_cycle = threading.Event()
        self.kept = Kept(0)  # its limit is set by reconfigure
        self.cycles = 0
        self.last_cycle_seconds = 0.0
        self._status_error = ""
        self._shared_ips: set[str] = set()  # IPs several devices share (warned once)
        self._devices_seen: tuple | None = None  # the registry's devices of the last cycle
        self.on_change = lambda what: None  # told each change of a reported status
        self.on_reconfigured = lambda: None  # told when a new config wants a cycle
        self.reconfigure(cfg)

    def reconfigure(self, cfg: Config) -> None:
        self.cfg = cfg
        # status.json is written again when a result changed, when the devices did, or when
        # the last write failed: the registry hands out the same tuple while its devices stay
        # (checking that costs nothing, where comparing every device's result did).
        self._status_dirty = True  # runtime_dir may have moved
        self._status_devices: tuple | None = None  # the devices it was last written for
        self._status_due = 0.0  # monotonic time of the next rewrite with nothing changed
        self.settings = None  # made when there is something to probe
        soft = raise_open_file_limit(cfg.probe_concurrency + SPARE_FILES + KEPT_MAX)
        if soft == resource.RLIM_INFINITY:
            soft = KEPT_MAX + cfg.probe_concurrency + SPARE_FILES
        self.kept.limit = max(0, min(KEPT_MAX, soft - cfg.probe_concurrency - SPARE_FILES))
        if not cfg.probe_keep_connections:
            self.kept.retain(set())
        self._devices_seen = None  # a new config: look at the devices again
        self.on_reconfigured()

    def idle(self) -> bool:
        """True when a cycle has nothing to do: there is no device, and the last cycle saw
        that already (so the states, the kept connections and status.json are of no device)."""
        devices = self.registry.devices()
        return not devices and devices is self._devices_seen

    def states(self) -> dict[str, DeviceState]:
        with self._lock:
            return dict(self._states)

    def statuses(self, devices: tuple[Device, ...]) -> list[tuple[Device, str]]:
        """(device, status) for the payload; unprobed devices are offline."""
        states = self.states()
        return [(d, states.get(d.id, DeviceState()).status) for d in devices]

    def cycle(self) -> dict[str, DeviceState]:
        """Probe every device once and settle their states; returns them."""
        devices = self.registry.devices()
        started = time.monotonic()
        results = []
        if devices:
            if self.settings is None:
                self.settings = settings_of(self.cfg, self.kept)
            results = probes.run_all(devices, self.settings, self.cfg.probe_concurrency)
        if devices is not self._devices_seen:  # added or removed: nothing to do per cycle else
            self._devices_seen = devices
            self.kept.retain({d.id for d in devices})
            self._warn_shared_ips(devices)
        now = time.time()
        unprobed = DeviceState()
        moved = False  # a result (status, reason or detail) changed
        with self._lock:
            old = self._states
            new, changed = {}, []
            for device, outcome, duration in results:
                before = old.get(device.id, unprobed)
                after = settle(before, outcome, self.cfg, now, duration)
                new[device.id] = after
                self._log_change(device, before, after)
                if after.status != before.status:  # unprobed is reported offline
                    changed.append(f"device {device.shown} {after.status}")
                moved = moved or (after.status != before.status or after.reason != before.reason
                                  or after.detail != before.detail)
            self._states = new
        for what in changed:
            self.on_change(what)
        self.cycles += 1
        self.last_cycle_seconds = time.monotonic() - started
        self._write_status(devices, new, moved or len(new) != len(old))
        self.first_cycle.set()
        return new

    def _warn_shared_ips(self, devices) -> None:
        """ep_id is dev_sno + "__" + ip (the vendor's spec): devices on one IP (an NVR's
        channels) share it, and the platform cannot tell them apart. Said once per IP,
        at start and when a device is added."""
        by_ip: dict[str, list[Device]] = {}
        for device in devices:
            by_ip.setdefault(device.ip, []).append(device)
        shared = {ip: group for ip, group in by_ip.items() if len(group) > 1}
        for ip in sorted(set(shared) - self._shared_ips):
            group = shared[ip]
            named = ", ".join(d.shown for d in group[:SHOWN_SHARED])
            if len(group) > SHOWN_SHARED:  # one line, however many (an NVR has 64 channels)
                named += f" and {len(group) - SHOWN_SHARED} more"
            log.warning("%d devices share the IP %s, so their ep_id (<dev_sno>__%s) is the same "
                        "and the platform cannot tell them apart: %s; see the README (Devices: "
                        "one IP, several devices)", len(group), ip, ip, named)
        self._shared_ips = set(shared)

    def force_offline(self, device_id: str, reason: str, detail: str = "") -> bool:
        """Report a device offline at once (an ONVIF camera said Bye), as a failed probe past
        ``offline_after`` would: its change is logged once, told to ``on_change`` as a probe
        cycle's are, and the status file written. The next probe cycle settles it from there.
        False when the device is unknown or already offline."""
        devices = self.registry.devices()
        device = next((d for d in devices if d.id == device_id), None)
        if device is None:
            return False
        with self._lock:
            before = self._states.get(device_id, DeviceState())
            if before.probed and before.status == "offline":
                return False
            after = DeviceState("offline", reason, detail, time.time(), 0.0,
                                max(before.fails + 1, self.cfg.offline_after), 0)
            self._states = {**self._states, device_id: after}
            self._log_change(device, before, after)
            states = self._states
        if before.status != after.status:  # unprobed is reported offline already
            self.on_change(f"device {device.shown} {after.status}")
        self._write_status(devices, states, True)
        return True

    @staticmethod
    def _log_change(device: Device, before: DeviceState, after: DeviceState) -> None:
        what = f"{after.reason}" + (f": {after.detail}" if after.detail else "")
        if not before.probed:
            log.info("device %s is %s (%s)", device.shown, after.status, what)
        elif before.status != after.status:
            log.warning("device %s is now %s (%s)", device.shown, after.status, what)
        elif before.reason != after.reason:
            log.info("device %s is still %s (%s)", device.shown, after.status, what)

    def _write_status(self, devices: tuple[Device, ...], states: dict[str, DeviceState],
                      changed: bool) -> None:
        if changed or devices is not self._status_devices:
            self._status_dirty = True
        if not self._status_dirty and (not states or time.monotonic() < self._status_due):
            return  # no result changed (or no devices): no write
        directory = self.cfg.runtime_dir
        try:
            os.makedirs(directory, mode=0o755, exist_ok=True)
            st = os.lstat(directory)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
                # e.g. a /tmp/sereport-UID another user made first: never write into it
                raise OSError(errno.EPERM, "not a directory of this user's")
            atomic.write(os.path.join(directory, STATUS_FILE), _status_json(devices, states),
                         sync=False)
            self._status_dirty, self._status_devices = False, devices
            self._status_due = time.monotonic() + STATUS_EVERY
        except OSError as exc:
            message = f"{directory}: {exc.strerror}"
            if message != self._status_error:
                self._status_error = message
                log.warning("cannot write the device status file in %s (devices list/show will "
                            "not show probe results)", message)


    def close(self) -> None:
        """Close the connections kept for the next cycle."""
        self.kept.close()


def read_status(cfg: Config) -> dict[str, DeviceState]:
    """The states a running daemon last wrote, {} when there are none."""
    try:
        data = limits.loads_json(limits.read_bytes(os.path.join(cfg.runtime_dir, STATUS_FILE),
                                                   limits.MAX_STATE_BYTES))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    kinds = {name: type(getattr(DeviceState(), name)) for name in DeviceState.__dataclass_fields__}

    def fits(name: str, value: object) -> bool:  # a forged or odd file: its values are checked
        if isinstance(value, bool):
            return False
        return isinstance(value, (int, float) if kinds[name] is float else kinds[name])

    return {key: replace(DeviceState(), **{k: v for k, v in value.items()
                                           if k in kinds and fits(k, v)})
            for key, value in data.items() if isinstance(value, dict)}


def describe(device: Device, registry: Registry, state: DeviceState | None) -> dict:
    """A device for people and scripts: public fields, probe, source, last probe result."""
    record = device.public()
    # "status": what the next beat reports (the record's own status is the one given
    # for probe: none; for a probed device it would mislead).
    if device.probe_kind == "none":
        record["status"] = device.status
    else:
        record["status"] = state.status if state is not None else DeviceState().status
    record["probe"] = device.probe_kind
    record["source"] = registry.source_of(device)
    if state is not None and state.probed:
        record["last_probe"] = {"status": state.status, "reason": state.reason,
                                "detail": state.detail, "checked_at": state.checked_at,
                                "duration": round(state.duration, 3)}
    return record
