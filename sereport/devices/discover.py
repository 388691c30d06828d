"""``sereport discover``: find the ONVIF cameras that answer a WS-Discovery Probe,
and with ``--add`` register the ones not yet known.

The Probe goes out of every interface that is up and can multicast (or only
those named by ``--interface``), twice, as SOAP-over-UDP asks; answers come back
to each interface's own socket until the timeout.  What a hostile network can
cost is bounded: MAX_DATAGRAMS read, MAX_DEVICES kept, each datagram parsed by
the bounded parser of sereport.probes.wsdiscovery.

A camera is registered with ``probe: onvif``, its name from its scopes, and an
id made from its endpoint reference (stable: a second run finds it known).
Its url is ``rtsp://IP/``: discovery does not tell the stream's path (ONVIF's
GetStreamUri needs the camera's password), the platform gets the camera's
address, and the operator may replace it with the stream's URL later.
"""

from __future__ import annotations

import argparse
import json
import selectors
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sereport.argtypes import bounded
from sereport.config import Config
from sereport.devices.records import Device, stable_id
from sereport.devices.registry import Registry, RegistryError

if TYPE_CHECKING:
    from sereport.probes import wsdiscovery as wsd

# sereport.probes.wsdiscovery (and xml.etree) is imported when the command runs, not
# when the parser is built: `sereport run` builds the same parser.
MAX_DATAGRAMS = 4096  # read in one search; more are drained unread
MAX_DEVICES = 1024
SHOWN_BAD = 3  # malformed answers named on stderr
REPEAT_AFTER = 0.3  # seconds: the Probe is sent again (UDP may lose it)


def device_id(epr: str) -> str:
    """The id a camera gets from its endpoint reference (a UUID, the same every run)."""
    return stable_id(epr.strip().lower())


@dataclass
class Search:
    found: dict = field(default_factory=dict)  # device_id -> (Match, interface)
    answered: dict = field(default_factory=dict)  # interface -> devices that answered there
    failed: dict = field(default_factory=dict)  # interface -> why nothing was sent
    bad: list = field(default_factory=list)  # (sender, reason), the first SHOWN_BAD
    bad_count: int = 0
    dropped: int = 0  # datagrams past MAX_DATAGRAMS, devices past MAX_DEVICES


def search(names: list[str], timeout: float) -> Search:
    """Probe out of each named interface and gather the answers for ``timeout`` seconds."""
    from sereport.probes import wsdiscovery as wsd

    result = Search()
    message_id = wsd.new_message_id()
    probe = wsd.probe_message(message_id)
    selector = selectors.DefaultSelector()
    sockets = []
    for name in names:
        try:
            sock = wsd.sender_socket(name)
        except OSError as exc:
            result.failed[name] = exc.strerror or str(exc)
            continue
        sockets.append(sock)
        selector.register(sock, selectors.EVENT_READ, name)
        result.answered[name] = 0
    try:
        start = time.monotonic()
        sends = [start, start + min(REPEAT_AFTER, timeout / 3)]
        read = 0
        while True:
            now = time.monotonic()
            while sends and sends[0] <= now:
                sends.pop(0)
                for key in list(selector.get_map().values()):
                    try:
                        key.fileobj.sendto(probe, (wsd.GROUP, wsd.PORT))
                    except OSError as exc:
                        result.failed[key.data] = exc.strerror or str(exc)
                        result.answered.pop(key.data, None)
                        selector.unregister(key.fileobj)
            left = start + timeout - now
            if left <= 0 or not selector.get_map():
                break
            for key, _ in selector.select(min([left] + [t - now for t in sends])):
                read = _drain(key.fileobj, key.data, message_id, read, result)
    finally:
        selector.close()
        for sock in sockets:
            sock.close()
    return result


def _drain(sock, interface: str, message_id: str, read: int, result: Search) -> int:
    from sereport.probes import wsdiscovery as wsd

    for _ in range(64):  # then the other sockets get their turn
        try:
            data, (sender, _port) = sock.recvfrom(wsd.MAX_DATAGRAM + 1)
        except (BlockingIOError, InterruptedError):
            break
        except OSError:  # e.g. an ICMP error from an earlier send
            continue
        read += 1
        if read > MAX_DATAGRAMS:
            result.dropped += 1
            continue
        try:
            message = wsd.parse(data, sender)
        except wsd.BadMessage as exc:
            result.bad_count += 1
            if len(result.bad) < SHOWN_BAD:
                result.bad.append((sender, str(exc)))
            continue
        if message.action != wsd.PROBE_MATCHES or message.relates_to not in ("", message_id):
            continue  # not an answer to this Probe
        for match in message.matches:
            key = device_id(match.epr)
            if not match.is_camera or key in result.found:
                continue
            if len(result.found) >= MAX_DEVICES:
                result.dropped += 1
                continue
            result.found[key] = (match, interface)
            result.answered[interface] += 1
    return read


def _known(key: str, match: wsd.Match, devices) -> Device | None:
    """The registered device this camera is: by its id, else by its IP."""
    for device in devices:
        if device.id == key:
            return device
    for device in devices:
        if device.ip == match.ip:
            return device
    return None


DEFAULT_URL = "rtsp://{ip}/"


def record(key: str, match: wsd.Match, template: str = DEFAULT_URL) -> dict:
    """The registry record of a discovered camera."""
    port = match.service_port
    return {"url": template.replace("{ip}", match.ip), "id": key, "probe": "onvif",
            "probe_port": None if port == 80 else port,
            "name": match.scope("name") or match.scope("hardware")}


def add_parser(commands, parents: list) -> None:
    discover = commands.add_parser(
        "discover", parents=parents,
        help="find ONVIF cameras on the local networks (WS-Discovery); --add registers them")
    discover.add_argument("--timeout", type=bounded(0.2, 60, unit="seconds"), default=3.0, metavar="SECONDS",
                          help="how long to wait for answers (default: 3)")
    discover.add_argument("--interface", action="append", metavar="NAME",
                          help="probe only out of this interface (repeat for several; default: "
                               "every interface that is up and can multicast)")
    discover.add_argument("--json", action="store_true", help="as JSON, for scripts")
    discover.add_argument("--add", action="store_true",
                          help="register the cameras not yet known (probe: onvif)")
    discover.add_argument("--url-template", type=_template, default=DEFAULT_URL, metavar="URL",
                          help="with --add, the url each camera gets, {ip} standing for its "
                               "address, e.g. rtsp://{ip}:554/Streaming/Channels/101 "
                               "(default: rtsp://{ip}/, the stream's path being unknown)")


def _template(text: str) -> str:
    if "{ip}" not in text or not text.lower().startswith(("rtsp://", "rtsps://")):
        raise argparse.ArgumentTypeError(f"{text!r} needs rtsp:// or rtsps:// and {{ip}}, e.g. "
                                         "rtsp://{ip}:554/Streaming/Channels/101")
    return text


def _row(key: str, match: wsd.Match, interface: str, known: Device | None) -> dict:
    from sereport.probes import wsdiscovery as wsd

    return {"ip": match.ip, "name": match.scope("name"), "hardware": match.scope("hardware"),
            "location": match.scope("location"), "service_url": wsd.clean(match.service_url, 256),
            "endpoint_reference": match.epr, "id": known.id if known else key,
            "interface": interface, "registered": known is not None,
            "registered_as": known.shown if known else None}


def _table(rows: list[dict]) -> str:
    columns = (("ip", "IP"), ("name", "NAME"), ("hardware", "HARDWARE"),
               ("location", "LOCATION"), ("service_url", "SERVICE URL"),
               ("registered", "REGISTERED"))
    cells = [[("yes" if r["registered"] else "no") if c == "registered" else (r[c] or "-")
              for c, _ in columns] for r in rows]
    widths = [max([len(title)] + [len(row[i]) for row in cells])
              for i, (_, title) in enumerate(columns)]
    lines = ["  ".join(t.ljust(w) for (_, t), w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def _summary(result: Search, timeout: float) -> list[str]:
    where = ", ".join(f"{name} ({count})" for name, count in result.answered.items())
    lines = [f"{len(result.found)} ONVIF device(s) answered within {timeout:g}s"
             + (f" on {where}" if where else "")]
    lines += [f"{name}: nothing sent: {why}" for name, why in result.failed.items()]
    if result.bad_count:
        named = "; ".join(f"from {sender}: {why}" for sender, why in result.bad)
        more = result.bad_count - len(result.bad)
        lines.append(f"ignored {result.bad_count} malformed answer(s): {named}"
                     + (f"; and {more} more" if more else ""))
    if result.dropped:
        lines.append(f"ignored {result.dropped} answer(s) past the bounds "
                     f"({MAX_DATAGRAMS} datagrams, {MAX_DEVICES} devices)")
    return lines


def run(args: argparse.Namespace, cfg: Config) -> int:
    from sereport.probes import wsdiscovery as wsd

    available = wsd.interfaces()
    names = args.interface or sorted(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"sereport discover: --interface {unknown[0]}: not an interface that is up, has an "
              f"IPv4 address and can multicast; allowed: {', '.join(sorted(available)) or 'none'}",
              file=sys.stderr)
        return 2
    if not names:
        print("sereport discover: no interface is up with an IPv4 address and multicast",
              file=sys.stderr)
        return 1
    registry = Registry(cfg.registry_path, cfg.devices, cfg.path)
    try:
        devices = list(registry.load())
    except RegistryError as exc:
        print(f"sereport discover: {exc}", file=sys.stderr)
        return 1
    result = search(names, args.timeout)
    for line in _summary(result, args.timeout):
        print(f"sereport discover: {line}", file=sys.stderr)
    found = sorted(result.found.items(), key=lambda item: (item[1][0].ip, item[0]))
    rows = [_row(key, match, interface, _known(key, match, devices))
            for key, (match, interface) in found]
    code = 0 if result.answered else 1  # 1: no interface could be probed at all
    if args.add:
        code = _add(registry, devices, found, rows, args.url_template,
                    sys.stderr if args.json else sys.stdout) or code
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    elif not args.add:
        print(_table(rows))
    return code


def _add(registry: Registry, devices: list, found: list, rows: list, template: str,
         out) -> int:
    added = code = 0
    for (key, (match, _)), row in zip(found, rows):
        row["added"] = False
        known = _known(key, match, devices)  # one added in this run counts too
        if known is not None:
            row.update(registered=True, registered_as=known.shown)
            continue
        try:
            device = registry.add(record(key, match, template))
        except RegistryError as exc:
            print(f"sereport discover: {match.ip}: not added: {exc}", file=sys.stderr)
            code = 1
            continue
        devices.append(device)
        added += 1
        row.update(registered=True, registered_as=device.shown, added=True)
        print(f"added {device.id} {device.shown}", file=out)
    known = sum(1 for r in rows if r["registered"] and not r.get("added"))
    print(f"sereport discover: {added} added, {known} already registered", file=sys.stderr)
    return code
