"""The box's own state: the top level of the gateway report and its
``gateway_ext_data``.

Units follow SPEC.md: GB is 2**30 bytes with 2 decimals, memory use is a
fraction with 2 decimals, CPU a percentage with 1 decimal.  An optional
reading that fails or hangs is left out and logged once (and its recovery
logged once); a required one falls back to '' the same way.  Nothing here
raises into the beat.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Callable

from sereport.box.bounded import Bounded
from sereport.box.netwatch import NetWatch
from sereport.config import Config
from sereport.box import vitals
from sereport.box.system import System

log = logging.getLogger(__name__)
GB = float(2**30)
# gateway_ext_data's readings that /status and /metrics show too (the last beat's)
READINGS = ("cpu_usage", "memory_size", "memory_usage", "disk_size", "disk_free_size",
            "tpu_usage", "vpu_usage", "chip_temp", "board_temp", "tpu_memory_size",
            "tpu_memory_usage", "uptime", "clock_synced")
RETRY_STATIC = 30.0  # seconds before a missing version or serial file is tried again
_PRODUCT_SN = re.compile(r'"product sn"\s*:\s*"([^"\n]*)"')


@dataclass(frozen=True)
class GatewayState:
    ip: str
    name: str
    sn: str
    dev_sno: str
    ext: dict = field(default_factory=dict)
    status: str = "online"  # the box that reports is up


class _Trouble:
    """Log a reading's failure once per distinct reason, and its recovery."""

    def __init__(self) -> None:
        self._last: dict[str, str] = {}

    def failed(self, what: str, reason: str) -> None:
        if self._last.get(what) != reason:
            self._last[what] = reason
            log.warning("cannot read %s: %s", what, reason)

    def ok(self, what: str) -> None:
        if self._last.pop(what, None) is not None:
            log.info("%s can be read again", what)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


def serial_of(text: str) -> str:
    """The serial number a serial file holds.

    The SE5/SE7 board controller's ``information`` file is JSON with a
    ``"product sn"`` field; other files (device tree, DMI) hold the number
    alone, NUL-terminated.
    """
    if text.lstrip().startswith("{"):
        try:
            info = json.loads(text)
        except (ValueError, RecursionError):  # a driver's odd output: look for the line
            found = _PRODUCT_SN.search(text)
            return found.group(1).strip() if found else ""
        value = info.get("product sn") if isinstance(info, dict) else None
        return value.strip("\x00 \t\r\n") if isinstance(value, str) else ""
    return text.strip("\x00 \t\r\n")


def sdk_of_link(target: str) -> str:
    """The libsophon version in the name a ``libsophon-current`` link points to."""
    name = target.rstrip("/").rsplit("/", 1)[-1]
    return name[len("libsophon-"):] if name.startswith("libsophon-") else name


class Gateway:
    def __init__(self, cfg: Config, system: System | None = None) -> None:
        self.system = system or System(cfg.host_root)
        self.bounded = Bounded()
        self.trouble = _Trouble()
        self._cpu_before = (0.0, 0.0)  # first reading: average since boot
        self.readings: dict[str, float] = {}  # the last beat's, for /status and /metrics
        self._netwatch: NetWatch | None = None  # the box's own network only (_interface)
        self.reconfigure(cfg)

    def reconfigure(self, cfg: Config) -> None:
        if isinstance(self.system, System) and self.system.root != cfg.host_root:
            self.system = System(cfg.host_root)
        self.cfg = cfg
        self._static: dict[str, str] = {}  # files read once, re-read after a failure
        self._network: tuple[str, str] | None = None  # (ip, mac) while the network holds still
        self._retry_at: dict[str, float] = {}  # what failed: when to try again

    def _read(self, what: str, fn: Callable, *, bounded: bool = False):
        try:
            if bounded:
                value = self.bounded.call(what, fn, self.cfg.metrics_timeout)
            else:
                value = fn()
        except Exception as exc:
            self.trouble.failed(what, _reason(exc))
            return None
        self.trouble.ok(what)
        return value

    def _due(self, what: str) -> bool:
        """Whether a static reading that failed may be tried again now."""
        return time.monotonic() >= self._retry_at.get(what, 0.0)

    def _failed_static(self, what: str) -> None:
        self._retry_at[what] = time.monotonic() + RETRY_STATIC

    def _once(self, what: str, read: Callable[[], str]) -> str | None:
        """A reading that does not change while the box runs: read until it works once."""
        if what not in self._static:
            if not self._due(what):
                return None
            text = self._read(what, read, bounded=True)
            if not text:
                if text is not None:
                    self.trouble.failed(what, "it is empty")
                self._failed_static(what)
                return None
            self._static[what] = text
        return self._static[what]

    def _sw_version(self) -> str:
        """The firmware's version text: ``bm_version``'s output on SophonSDK firmware,
        else the build info file of older (BMNNSDK2) firmware, verbatim."""
        cfg, reasons = self.cfg, []
        if cfg.sw_version_command:
            try:
                # Half the reading's time: a hung program leaves time for the file.
                text = self.system.run(cfg.sw_version_command, cfg.metrics_timeout / 2)
                if text.strip():
                    return text
                reasons.append(f"{cfg.sw_version_command} printed nothing")
            except Exception as exc:
                reasons.append(_reason(exc))
        if cfg.sw_version_file:
            try:
                text = self.system.read_text(cfg.sw_version_file)
                if text.strip():
                    return text
                reasons.append(f"{cfg.sw_version_file} is empty")
            except Exception as exc:
                reasons.append(_reason(exc))
        raise OSError("; ".join(reasons) or "sw_version_command and sw_version_file are empty")

    def _sdk_version(self) -> str:
        cfg = self.cfg
        if cfg.sdk_version:
            return cfg.sdk_version
        if cfg.sdk_version_file:
            return self._once("sdk_version", lambda: self.system.read_text(
                cfg.sdk_version_file).strip()) or ""
        if cfg.sdk_version_link:
            return self._once("sdk_version", lambda: sdk_of_link(
                self.system.read_link(cfg.sdk_version_link))) or ""
        return ""

    def _serial(self) -> str:
        if self.cfg.serial_number:
            return self.cfg.serial_number
        if "serial" in self._static:
            return self._static["serial"]
        if not self._due("serial"):
            return ""
        reasons = []
        for path in self.cfg.serial_files:
            try:
                text = serial_of(self.bounded.call(
                    f"serial {path}", lambda p=path: self.system.read_text(p),
                    self.cfg.metrics_timeout))
            except Exception as exc:
                reasons.append(_reason(exc) if getattr(exc, "filename", None) else f"{path}: {_reason(exc)}")
                continue
            if text:
                self.trouble.ok("serial number")
                self._static["serial"] = text
                return text
            reasons.append(f"{path}: empty")
        self.trouble.failed("serial number", "; ".join(reasons) or "no serial_files configured")
        self._failed_static("serial")
        return ""

    def _interface(self):
        """(ipv4, mac) of the primary interface, from one interface listing; read again only
        when the kernel said the network changed (netwatch.py), for the box's own network."""
        watch = self._watch_network()
        if self._network is not None and watch is not None and not watch.changed():
            return self._network
        self._network = None
        ip, mac = found = self._read_interface()
        if ip and watch is not None:
            self._network = found
        return found

    def close(self) -> None:
        if self._netwatch is not None:
            self._netwatch.close()

    def _watch_network(self) -> NetWatch | None:
        """The kernel's word on changes, when the readings are of the network this process
        is in (System on /, not a fixture tree nor a stand-in); None otherwise."""
        if not (type(self.system) is System and self.system.root in ("", "/")):
            return None
        if self._netwatch is None:
            self._netwatch = NetWatch()
        return self._netwatch if self._netwatch.watching else None

    def _read_interface(self) -> tuple[str, str]:
        interfaces = self._read("network interfaces", self.system.interfaces)
        if interfaces is None:
            return "", ""
        name = self.cfg.interface
        if not name:
            name = self._read("default route", self.system.default_route_interface) or ""
        if not name:  # no default route: first interface that is up and has an address
            up = self._read("interface states", self.system.up_interfaces) or set()
            name = next((i.name for i in interfaces.values()
                         if i.name in up and i.ipv4 and not i.ipv4.startswith("127.")), "")
        iface = interfaces.get(name)
        if iface is None or not iface.ipv4:
            self.trouble.failed("gateway IP", f"interface {name or '(none)'} has no IPv4 address")
            return "", (iface.mac if iface else "")
        self.trouble.ok("gateway IP")
        return iface.ipv4, iface.mac

    def _cpu(self) -> float | None:
        now = self._read("CPU times", self.system.cpu_times)
        if now is None:
            return None
        busy, total = now[0] - self._cpu_before[0], now[1] - self._cpu_before[1]
        self._cpu_before = now
        if total <= 0:
            return None
        return round(min(100.0, max(0.0, 100.0 * busy / total)), 1)

    def _versions(self) -> tuple[str, str]:
        return self._once("sw_version", self._sw_version) or "", self._sdk_version()

    def _disk(self) -> tuple[int, int] | None:
        path = self.cfg.data_path
        return self._read(f"disk {path}", lambda: self.system.disk(path), bounded=True)

    def warm(self) -> None:
        """Do collect()'s first-time work (files read once, worker threads) ahead of the
        first beat, so that beat is as punctual as the rest.  Not the CPU reading: the
        first beat's figure is the average since boot, not over a few milliseconds."""
        self._versions()
        self._serial()
        self._disk()
        self._interface()
        self._read("memory", self.system.memory)

    def _vital(self, ext: dict, field: str, path: str, parse: Callable[[str], object]) -> None:
        value = self._read(field, lambda: parse(self.system.read_text(path)), bounded=True)
        if value is not None:
            ext[field] = value

    def _vitals(self, ext: dict) -> None:
        """The extensions' fields (box/vitals.py), each left out, logged once, when its
        source is missing, unreadable or says nothing."""
        wanted = self.cfg.extensions
        if "ai" in wanted:
            self._vital(ext, "tpu_usage", vitals.TPU_USAGE, vitals.tpu_usage)
            self._vital(ext, "vpu_usage", vitals.VPU_INFO, vitals.vpu_usage)
            self._vital(ext, "chip_temp", vitals.CHIP_TEMP, vitals.temperature)
            self._vital(ext, "board_temp", vitals.BOARD_TEMP, vitals.temperature)
            heap = self._read("tpu_memory", lambda: vitals.tpu_memory(
                self.system.read_text(vitals.TPU_HEAP)), bounded=True)
            if heap is not None:
                ext["tpu_memory_size"], ext["tpu_memory_usage"] = heap
        if "uptime" in wanted:
            self._vital(ext, "uptime", vitals.UPTIME, vitals.uptime)
        if "clock_synced" in wanted:
            synced = self._read("clock_synced", self.system.clock_synced)
            if synced is not None:
                ext["clock_synced"] = synced

    def collect(self) -> GatewayState:
        cfg = self.cfg
        ip, mac = self._interface()
        sw, sdk = self._versions()
        ext: dict = {"sw_version": sw}
        if sdk:
            ext["sdk_version"] = sdk
        if mac and mac != "00:00:00:00:00:00":
            ext["gateway_mac"] = mac
        cpu = self._cpu()
        if cpu is not None:
            ext["cpu_usage"] = cpu
        memory = self._read("memory", self.system.memory)
        if memory and memory[0] > 0:
            ext["memory_size"] = round(memory[0] / GB, 2)
            ext["memory_usage"] = round((memory[0] - memory[1]) / memory[0], 2)
        disk = self._disk()
        if disk:
            ext["disk_size"] = round(disk[0] / GB, 2)
            ext["disk_free_size"] = round(disk[1] / GB, 2)
        self._vitals(ext)
        self.readings = {key: value for key, value in ext.items()
                         if isinstance(value, (int, float)) and key in READINGS}
        if memory and memory[0] > 0:  # exact, for /metrics
            self.readings["memory_bytes"], self.readings["memory_available_bytes"] = memory
        if disk:
            self.readings["disk_bytes"], self.readings["disk_free_bytes"] = disk
        name = self._read("host name", self.system.hostname) or ""
        return GatewayState(ip=ip, name=name, sn=self._serial(), dev_sno=cfg.dev_sno, ext=ext)
