"""WS-Discovery for ONVIF cameras: the Probe, and a bounded parser of the answers.

ONVIF cameras answer a SOAP-over-UDP ``Probe`` for ``dn:NetworkVideoTransmitter``
sent to 239.255.255.250:3702 with a ``ProbeMatch`` (their endpoint reference,
``XAddrs`` and ``Scopes``), and announce themselves with ``Hello`` and ``Bye``
on that group.  Every datagram is untrusted: one larger than MAX_DATAGRAM, one
with a DOCTYPE or entity declaration, one not in UTF-8, nested deeper than
MAX_DEPTH or holding more than MAX_ELEMENTS elements is refused whole
(BadMessage); every text kept is cut to a bound and stripped of control
characters.  Elements are matched by local name, so the 2005/04 and 2009/01
namespaces of WS-Discovery both parse.  Why this is not the WSDiscovery
package: docs/internals.md (ONVIF discovery).
"""

from __future__ import annotations

import os
import re
import socket
import struct
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import ParseError, XMLPullParser

GROUP = "239.255.255.250"
PORT = 3702
MAX_DATAGRAM = 32 * 1024  # real ProbeMatches are 1-4 KiB
MAX_DEPTH = 16
MAX_ELEMENTS = 500
MAX_MATCHES = 16  # ProbeMatch elements in one datagram
MAX_TEXT = 2048  # characters of one XAddrs or Scopes list
MAX_ITEMS = 32  # addresses or scopes kept per device
MAX_FIELD = 128  # characters of a name, hardware or location shown or stored

PROBE, PROBE_MATCHES, HELLO, BYE = "Probe", "ProbeMatches", "Hello", "Bye"
ACTIONS = (PROBE, PROBE_MATCHES, HELLO, BYE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class BadMessage(ValueError):
    """A datagram that is not a WS-Discovery message sereport can read."""


@dataclass(frozen=True)
class Match:
    """One device as a ProbeMatch, Hello or Bye describes it."""
    epr: str  # endpoint reference: urn:uuid:...
    types: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    xaddrs: tuple[str, ...] = ()
    sender: str = ""  # the datagram's source IP

    def scope(self, kind: str) -> str:
        """The ONVIF scope's value (``onvif://www.onvif.org/name/Front%20Door`` ->
        ``Front Door``); several of one kind are joined by spaces."""
        prefix = f"onvif://www.onvif.org/{kind}/"
        values = [unquote(s[len(prefix):]) for s in self.scopes
                  if s.lower().startswith(prefix.lower())]
        return clean(" ".join(v for v in values if v), MAX_FIELD)

    def _ipv4_xaddr(self) -> tuple[str, str]:
        """(IPv4 address, URL) of its first device service address on IPv4 (many cameras
        list an IPv6 one too, often link-local), ('', '') when none is."""
        for xaddr in self.xaddrs:
            try:
                host = urlsplit(xaddr).hostname or ""
            except ValueError:
                continue
            if _is_ipv4(host):
                return host, xaddr
        return "", ""

    @property
    def ip(self) -> str:
        """The IPv4 address of its device service, else the datagram's source."""
        return self._ipv4_xaddr()[0] or self.sender

    @property
    def service_url(self) -> str:
        return self._ipv4_xaddr()[1] or (self.xaddrs[0] if self.xaddrs else "")

    @property
    def service_port(self) -> int:
        """The device service's port (80 when its URL gives none or is not http)."""
        try:
            parts = urlsplit(self.service_url)
            return parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return 80

    @property
    def is_camera(self) -> bool:
        return not self.types or any(t.endswith("NetworkVideoTransmitter") for t in self.types)


@dataclass(frozen=True)
class Message:
    action: str  # one of ACTIONS
    message_id: str = ""
    relates_to: str = ""
    matches: tuple[Match, ...] = ()


def _is_ipv4(text: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET, text)
    except OSError:
        return False
    return True


def clean(text: str, limit: int) -> str:
    """Text fit for a terminal, a log line and the registry: no control characters."""
    return _CONTROL.sub(" ", text).strip()[:limit]


def new_message_id() -> str:
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def probe_message(message_id: str) -> bytes:
    """The Probe for ONVIF video transmitters (the type every ONVIF camera has)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
        ' xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"'
        ' xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"'
        ' xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header>'
        '<a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe'
        f"</a:Action><a:MessageID>{message_id}</a:MessageID>"
        "<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
        '</a:Address></a:ReplyTo><a:To s:mustUnderstand="1">'
        "urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>"
        "<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>"
        "</s:Envelope>").encode("utf-8")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _guard(data: bytes) -> None:
    if len(data) > MAX_DATAGRAM:
        raise BadMessage(f"larger than {MAX_DATAGRAM // 1024} KiB")
    head = data[:3]
    if head == b"\xef\xbb\xbf":
        data = data[3:]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadMessage("not UTF-8") from None
    if not data.lstrip().startswith(b"<"):
        raise BadMessage("not XML")
    upper = data.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise BadMessage("has a DOCTYPE or an entity declaration")


def _elements(data: bytes):
    """(depth, element) at each element's end, the whole document bounded."""
    parser = XMLPullParser(events=("start", "end"))
    depth = count = 0
    try:
        parser.feed(data)
        parser.close()
    except ParseError as exc:
        raise BadMessage(f"not well-formed XML ({exc})") from None
    for event, element in parser.read_events():
        if event == "start":
            depth += 1
            count += 1
            if depth > MAX_DEPTH or count > MAX_ELEMENTS:
                raise BadMessage(f"nested deeper than {MAX_DEPTH} or more than "
                                 f"{MAX_ELEMENTS} elements")
        else:
            depth -= 1
            yield depth, element


def _list(element, limit: int = MAX_TEXT) -> tuple[str, ...]:
    text = (element.text or "")[:limit]
    return tuple(clean(item, MAX_TEXT) for item in text.split()[:MAX_ITEMS])


def _match(element, sender: str) -> Match:
    fields = {"epr": "", "types": (), "scopes": (), "xaddrs": ()}
    for child in element.iter():
        name = _local(child.tag)
        if name == "Address" and not fields["epr"]:
            fields["epr"] = clean(child.text or "", 256)
        elif name in ("Types", "Scopes", "XAddrs"):
            fields[name.lower()] = _list(child)
    if not fields["epr"]:
        raise BadMessage("a match without an endpoint reference")
    return Match(sender=sender, **fields)


def parse(data: bytes, sender: str = "") -> Message:
    """The message in one datagram; BadMessage says why it cannot be read."""
    _guard(data)
    action = message_id = relates_to = ""
    root = body = None
    for depth, element in _elements(data):
        name = _local(element.tag)
        if depth == 2 and name == "Action":
            action = (element.text or "").strip().rsplit("/", 1)[-1]
        elif depth == 2 and name == "MessageID":
            message_id = clean(element.text or "", 256)
        elif depth == 2 and name == "RelatesTo":
            relates_to = clean(element.text or "", 256)
        elif depth == 1 and name == "Body":
            body = element
        elif depth == 0:
            root = element
    if root is None or _local(root.tag) != "Envelope" or body is None:
        raise BadMessage("not a SOAP envelope")
    if action not in ACTIONS:
        raise BadMessage(f"action {clean(action, 64)!r} is not Probe, ProbeMatches, Hello or Bye")
    if action == PROBE:
        return Message(action, message_id, relates_to)
    wanted = "ProbeMatch" if action == PROBE_MATCHES else action
    found = [e for e in body.iter() if _local(e.tag) == wanted][:MAX_MATCHES]
    if not found:
        raise BadMessage(f"a {action} with no {wanted}")
    return Message(action, message_id, relates_to, tuple(_match(e, sender) for e in found))


# --- sockets ---------------------------------------------------------------------------


def _mreqn(ifindex: int, group: str = "0.0.0.0") -> bytes:
    """struct ip_mreqn: the group, no local address, the interface by its index."""
    return struct.pack("4s4si", socket.inet_aton(group), socket.inet_aton("0.0.0.0"), ifindex)


def sender_socket(interface: str) -> socket.socket:
    """A UDP socket whose multicast leaves through ``interface`` (answers come back to it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                        _mreqn(socket.if_nametoindex(interface)))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sock.bind(("0.0.0.0", 0))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def group_socket() -> socket.socket:
    """A UDP socket on port 3702 for the group's Hello and Bye (join interfaces with join)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        sock.bind(("0.0.0.0", PORT))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def join(sock: socket.socket, interface: str) -> None:
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                    _mreqn(socket.if_nametoindex(interface), GROUP))


def interfaces() -> dict[str, str]:
    """{name: first IPv4 address} of every interface that is up, not loopback, and can
    multicast (psutil's flags, where it has them)."""
    import psutil

    stats = psutil.net_if_stats()
    found = {}
    for name, addresses in psutil.net_if_addrs().items():
        stat = stats.get(name)
        flags = getattr(stat, "flags", "").split(",") if stat is not None else []
        if stat is None or not stat.isup or "loopback" in flags or (
                flags != [""] and "multicast" not in flags):
            continue
        ipv4 = [a.address for a in addresses if a.family == socket.AF_INET]
        if ipv4 and not ipv4[0].startswith("127."):
            found[name] = ipv4[0]
    return found


def own_addresses() -> set[str]:
    """Every address of this host, loopback too."""
    import psutil

    return {a.address.split("%")[0] for addresses in psutil.net_if_addrs().values()
            for a in addresses if a.family in (socket.AF_INET, socket.AF_INET6)}
