"""ONVIF cameras' Hello and Bye (WS-Discovery), heard by the daemon (``onvif_listen``).

A registered camera that says Bye, known by its endpoint reference (the id
``sereport discover --add`` gave it) or by the address it speaks from, is
reported offline at once through the monitor (``Monitor.force_offline``), the
way a failed probe past ``offline_after`` would; the next probe cycle settles
it from there.  A Hello of a registered camera is logged (the next cycle
probes it); an unregistered camera's Hello is logged once, with the command
that registers it.

Bounded whatever the network sends: one thread, one socket on UDP 3702, each
datagram at most MAX_DATAGRAM bytes and parsed by the bounded parser, at most
RATE datagrams a second (BURST at once; the rest are dropped unread, and
counted in one line a minute), a bounded memory of cameras already named.
Datagrams from the box's own addresses are ignored, so a local process cannot
use a forged Bye to steer the daemon.
"""

from __future__ import annotations

import logging
import selectors
import threading
import time

from sereport.devices.discover import device_id
from sereport.devices.monitor import Monitor
from sereport.probes import wsdiscovery as wsd

log = logging.getLogger(__name__)
RATE = 20.0  # datagrams a second, on average
BURST = 100
REFRESH = 30.0  # seconds between looks for new interfaces (and the box's own addresses)
QUIET = 60.0  # seconds between two lines about dropped or malformed datagrams
REMEMBERED = 256  # unregistered cameras whose Hello was logged


class Listener:
    def __init__(self, monitor: Monitor):
        self.monitor = monitor  # and its registry, which a reload may replace
        self.heard = 0  # datagrams read
        self.dropped = 0  # past the rate
        self.bad = 0  # malformed
        self._stop = threading.Event()
        self._sock = None
        self._thread: threading.Thread | None = None
        self._joined: set[str] = set()
        self._own: set[str] = set()
        self._hellos: dict[str, float] = {}  # device id -> when its Hello was last logged
        self._named: dict[str, None] = {}  # unregistered EPRs already logged, oldest first
        self._said = 0.0  # monotonic time of the last line about dropped or bad datagrams
        self._tokens = float(BURST)
        self._filled = time.monotonic()

    def start(self) -> bool:
        """Listen; False (logged) when UDP port 3702 cannot be had."""
        try:
            self._sock = wsd.group_socket()
        except OSError as exc:
            log.error("onvif_listen: cannot listen on UDP port %d: %s; cameras' Hello and Bye "
                      "are not heard (probes go on)", wsd.PORT, exc.strerror or exc)
            return False
        self._refresh()
        log.info("onvif_listen: hearing ONVIF cameras' Hello and Bye on %s",
                 ", ".join(sorted(self._joined)) or "no interface yet")
        self._thread = threading.Thread(target=self._run, name="onvif-listen", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            log.info("onvif_listen: stopped after %d datagram(s)", self.heard)
        if self._sock is not None:
            self._sock.close()

    def _refresh(self) -> None:
        try:
            available = wsd.interfaces()
            self._own = wsd.own_addresses()
        except Exception as exc:  # noqa: BLE001 - psutil failing must not end the listener
            log.warning("onvif_listen: cannot list the interfaces: %s", exc)
            return
        for name in sorted(set(available) - self._joined):
            try:
                wsd.join(self._sock, name)
            except OSError as exc:
                log.warning("onvif_listen: cannot join the WS-Discovery group on %s: %s",
                            name, exc.strerror or exc)
            self._joined.add(name)  # tried once; a new address on it does not matter
        self._joined &= set(available)  # one that went away is joined again when it is back

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._sock, selectors.EVENT_READ)
        refreshed = time.monotonic()
        while not self._stop.is_set():
            if selector.select(1.0):
                for _ in range(BURST):
                    if not self._read_one():
                        break
            if time.monotonic() - refreshed >= REFRESH:
                refreshed = time.monotonic()
                self._refresh()
        selector.close()

    def _read_one(self) -> bool:
        """Handle one datagram; False when none is waiting."""
        try:
            data, (sender, _port) = self._sock.recvfrom(wsd.MAX_DATAGRAM + 1)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        self.heard += 1
        if not self._allowed():
            self.dropped += 1
            self._say_trouble()
            return True
        if sender in self._own:
            return True
        try:
            message = wsd.parse(data, sender)
        except wsd.BadMessage as exc:
            self.bad += 1
            log.debug("onvif_listen: ignored a datagram from %s: %s", sender, exc)
            self._say_trouble()
            return True
        try:
            for match in message.matches:
                if message.action == wsd.BYE:
                    self._bye(match)
                elif message.action == wsd.HELLO and match.is_camera:
                    self._hello(match)
        except Exception:  # noqa: BLE001 - nothing a datagram says may end the listener
            self.bad += 1
            if time.monotonic() - self._said >= QUIET:  # a bug, but never a flood of lines
                self._said = time.monotonic()
                log.exception("onvif_listen: a datagram from %s could not be handled", sender)
        return True

    def _allowed(self) -> bool:
        now = time.monotonic()
        self._tokens = min(BURST, self._tokens + (now - self._filled) * RATE)
        self._filled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _say_trouble(self) -> None:
        now = time.monotonic()
        if now - self._said >= QUIET:
            self._said = now
            log.warning("onvif_listen: %d datagram(s) dropped past %g a second, %d malformed, "
                        "since the start", self.dropped, RATE, self.bad)

    def _devices(self, match: wsd.Match):
        """The registered devices the message is about: by endpoint reference, else by
        its address (its device service's, else the datagram's source)."""
        devices = self.monitor.registry.devices()
        key = device_id(match.epr)
        return [d for d in devices if d.id == key] or [d for d in devices if d.ip == match.ip]

    def _bye(self, match: wsd.Match) -> None:
        for device in self._devices(match):
            self.monitor.force_offline(device.id, "bye",
                                       f"said Bye (WS-Discovery) from {match.sender}")

    def _hello(self, match: wsd.Match) -> None:
        devices = self._devices(match)
        if devices:
            now = time.monotonic()
            for device in devices:
                if now - self._hellos.get(device.id, -QUIET) < QUIET:
                    continue
                self._hellos[device.id] = now
                log.info("device %s said Hello (WS-Discovery): probed at the next cycle",
                         device.shown)
            return
        if match.epr in self._named:
            return
        if len(self._named) >= REMEMBERED:
            self._named.pop(next(iter(self._named)))
        self._named[match.epr] = None
        name = match.scope("name") or match.scope("hardware") or "an ONVIF camera"
        log.info("%s at %s said Hello and is not registered: `sereport discover --add` "
                 "registers it", name, match.ip)
