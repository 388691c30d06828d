"""The persisted registry of attached devices.

Devices live in ``<state_dir>/devices.json``, written atomically (temp file,
fsync, rename, fsync of the directory) under an exclusive lock, so a crash
mid-write leaves the old registry whole and two writers never interleave.
The config file's ``devices:`` list is read as a seed: those devices are
always there, and are changed in the config file, not here.  URL and id are
unique across both.  A running daemon notices a changed file by its stat
signature and reloads it; a registry file that does not validate is
refused whole (the daemon keeps the last good one).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import stat
import threading
from contextlib import contextmanager

from sereport import atomic, limits
from sereport.devices.records import Device, identity, new_id, parse_device
from sereport.redact import redact_url

log = logging.getLogger(__name__)
FORMAT_VERSION = 1


class RegistryError(Exception):
    """A registry change refused, or a registry file that cannot be used."""


class Conflict(RegistryError):
    """The URL or id is taken, or the device belongs to the config file."""


class NotFound(RegistryError):
    """No device has that id or URL."""


class StorageError(RegistryError):
    """The registry could not be written (a full disk, a read-only file system); ``errno``
    says why."""

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno


def _signature(path: str):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def matches(device: Device, key: str) -> bool:
    """Whether ``key`` names the device: its id, its URL as given, as shown (with the
    password masked: what `devices list` prints), or with other credentials."""
    return key in (device.id, device.url, redact_url(device.url)) or (
        "://" in key and identity(key) == identity(device.url))


def _only(devices, key: str) -> Device:
    """The one device ``key`` names; a masked URL that fits several names none."""
    found = [d for d in devices if matches(d, key)]
    if not found:
        raise NotFound(f"no device with id or url {redact_url(key)!r}")
    exact = [d for d in found if key in (d.id, d.url)]
    if len(found) > 1 and len(exact) != 1:
        raise Conflict(f"{redact_url(key)!r} fits {len(found)} devices "
                       f"({', '.join(d.id for d in found)}); name one by its id")
    return exact[0] if exact else found[0]


class Registry:
    def __init__(self, path: str, seed: tuple[Device, ...] = (), seed_source: str = "the config"):
        self.path = path
        self.seed = seed
        self.seed_source = seed_source
        self._signature: object = "never read"
        self._stored: tuple[Device, ...] = ()
        # seed + stored, made again only when the file's devices are read: devices() hands
        # out the same tuple while nothing changed (no tuple per call, and callers that keep
        # something per device set can tell a change by identity)
        self._all: tuple[Device, ...] = seed
        self._last_error = ""
        self._lock = threading.Lock()  # the monitor and the beat both read

    # --- reading -----------------------------------------------------------

    def _read(self) -> tuple[Device, ...]:
        """The stored devices, validated; RegistryError names what is wrong."""
        try:
            data = limits.loads_json(limits.read_bytes(self.path, limits.MAX_STATE_BYTES))
        except FileNotFoundError:
            return ()
        except OSError as exc:
            raise RegistryError(f"{self.path}: cannot read: {exc.strerror}") from None
        except ValueError as exc:
            raise RegistryError(f"{self.path}: not a valid registry file: {exc}") from None
        items = data.get("devices") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise RegistryError(f"{self.path}: not a valid registry file: no \"devices\" list")
        devices, problems = [], []
        for i, raw in enumerate(items):
            device, found = parse_device(raw, f"{self.path}: devices[{i}]")
            problems.extend(found)
            if device is not None:
                devices.append(device)
        problems.extend(self._conflicts(devices))
        if problems:
            raise RegistryError("; ".join(problems))
        return tuple(devices)

    def _conflicts(self, stored: list[Device]) -> list[str]:
        problems, seen = [], {}
        for device in list(self.seed) + stored:
            for attr in ("url", "id"):
                value = identity(device.url) if attr == "url" else device.id
                other = seen.get((attr, value))
                if other is not None:
                    problems.append(f"{self.path}: device {device.shown}: {attr} already used by "
                                    f"{other}")
                seen[(attr, value)] = device.shown
        return problems

    def devices(self) -> tuple[Device, ...]:
        """Seed and stored devices; the file is re-read only when it changed.

        A file that does not validate is logged once and the last good
        devices are kept.  The same tuple comes back until the devices change.
        """
        with self._lock:
            return self._devices()

    def _devices(self) -> tuple[Device, ...]:
        signature = _signature(self.path)
        if signature != self._signature:
            try:
                stored = self._read()
            except RegistryError as exc:
                if str(exc) != self._last_error:
                    self._last_error = str(exc)
                    log.error("%s; keeping the %d device(s) read before", exc, len(self._stored))
            else:
                if stored != self._stored:
                    self._stored, self._all = stored, self.seed + stored
                if self._signature != "never read":
                    log.info("device registry changed: %d device(s)", len(self._stored))
                self._last_error = ""
            self._signature = signature
        return self._all

    def load(self) -> tuple[Device, ...]:
        """Seed and stored devices read afresh; RegistryError for a broken file."""
        return self.seed + self._read()

    def find(self, key: str) -> Device:
        """A device by id or URL; RegistryError when there is none, or more than one."""
        return _only(self.load(), key)

    def source_of(self, device: Device) -> str:
        return self.seed_source if device in self.seed else self.path

    # --- writing -----------------------------------------------------------

    @contextmanager
    def _locked(self):
        directory = os.path.dirname(self.path) or "."
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            # O_NOFOLLOW: a lock file swapped for a symbolic link (by whoever owns the
            # directory) must not make root open, or hand over, the file it points to.
            fd = os.open(self.path + ".lock",
                         os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            lock = open(fd, "a")  # noqa: SIM115 - closed by the with below
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
                atomic.follow_directory_owner(fd, directory)
        except OSError as exc:
            raise StorageError(f"{self.path}: cannot write: {exc.strerror} "
                               "(run as root, or set state_dir in the config)", exc.errno) from None
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield list(self._read())

    def _write(self, stored: list[Device]) -> None:
        data = {"version": FORMAT_VERSION, "devices": [d.to_dict() for d in stored]}
        text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
        try:
            atomic.write(self.path, text.encode("utf-8"))
        except OSError as exc:  # the old file stays whole: nothing changed
            raise StorageError(f"{self.path}: cannot write: {exc.strerror or exc}; "
                               "nothing changed", exc.errno) from None

    def add(self, raw: dict) -> Device:
        """Validate and store a new device; RegistryError names any conflict."""
        raw = {k: v for k, v in raw.items() if v not in (None, "") or k == "url"}
        raw.setdefault("id", new_id())
        device, problems = parse_device(raw, "device")
        if problems:
            raise RegistryError("; ".join(problems))
        with self._locked() as stored:
            for other in list(self.seed) + stored:
                for attr in ("url", "id"):
                    same = (identity(other.url) == identity(device.url) if attr == "url"
                            else other.id == device.id)
                    if same:
                        value = device.id if attr == "id" else redact_url(device.url)
                        raise Conflict(f"{attr} {value!r} is already used by device {other.id} "
                                       f"{other.shown} (in {self.source_of(other)})")
            self._write(stored + [device])
        return device

    def remove(self, key: str) -> Device:
        with self._locked() as stored:
            device = _only(list(self.seed) + stored, key)
            if device in self.seed:
                raise Conflict(f"device {device.id} {device.shown} is listed in "
                               f"{self.seed_source}; remove it there")
            self._write([d for d in stored if d is not device])
            return device
