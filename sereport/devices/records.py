"""Attached capture devices: the record, kind inference and validation.

A device is described by a mapping (from the config's ``devices:`` list or,
later, the registry).  ``parse_device`` turns one into a ``Device`` and
returns every problem it found, each naming the field and the value.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from sereport.digests import sha1
from sereport.redact import redact_url, without_userinfo

KINDS = ("rtsp", "gb28181", "file", "photo")
EP_TYPES = ("0", "1", "2", "3", "4")
STATUSES = ("online", "offline")
# The platform's device classes: 0 gate, 1 snapshot camera, 2 IPC static,
# 3 IPC dynamic, 4 access control.  A photo-push device is a snapshot camera
# unless told otherwise; a stream is a static IPC.
DEFAULT_EP_TYPE = {"photo": "1", "rtsp": "2", "gb28181": "2", "file": "2"}
# How each kind is probed unless the device says otherwise (module names in sereport.probes).
DEFAULT_PROBE = {"rtsp": "rtsp", "gb28181": "sip", "file": "file", "photo": "photo"}
PROBES = ("rtsp", "onvif", "sip", "photo", "file", "tcp", "none")
FIELDS = ("id", "name", "url", "type", "ip", "location", "ep_type", "permission_id",
          "status", "probe", "probe_port", "username", "password")


@dataclass(frozen=True)
class Device:
    id: str
    name: str
    url: str
    type: str
    ip: str
    location: str
    ep_type: str
    permission_id: str
    status: str = "offline"  # reported as is only with probe: none
    probe: str = ""  # '' = DEFAULT_PROBE[type]
    probe_port: int = 0  # 0 = the probe's default
    username: str = ""
    password: str = field(default="", repr=False)

    @property
    def probe_kind(self) -> str:
        return self.probe or DEFAULT_PROBE[self.type]

    @property
    def shown(self) -> str:
        """Name and URL as a log line may show them."""
        where = redact_url(self.url)
        return f"{self.name} ({where})" if self.name else where

    def to_dict(self) -> dict:
        return asdict(self)

    def public(self) -> dict:
        """The record as output may show it: URL redacted, password masked."""
        record = self.to_dict()
        record["url"] = redact_url(self.url)
        if self.password:
            record["password"] = "***"
        return record


def is_ipv4(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv4Address)
    except ValueError:
        return False


def infer_kind(url: str) -> str | None:
    """The device kind a URL implies, or None when it implies none."""
    low = url.lower()
    if low.startswith(("rtsp://", "rtsps://")):
        return "rtsp"
    if low.startswith(("gb28181://", "gb28281://")):  # the vendor's typo too
        return "gb28181"
    if url.startswith("/"):
        return "file"
    if is_ipv4(url):
        return "photo"
    return None


def ip_from_url(url: str, kind: str) -> str:
    """The device's IP (or host) as the URL gives it; '' when it gives none."""
    if kind == "photo":
        return url
    if kind == "file":
        return "127.0.0.1"  # a local file lives on the box itself
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


_NAMESPACE_URL = bytes.fromhex("6ba7b8119dad11d180b400c04fd430c8")  # RFC 4122 URL namespace
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _format_uuid(raw: bytes, version: int) -> str:
    b = bytearray(raw[:16])
    b[6] = (b[6] & 0x0F) | (version << 4)
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def identity(url: str) -> str:
    """What makes two URLs the same device: the URL without its credentials (a new
    password is the same camera), scheme and host in lower case."""
    bare = without_userinfo(url)
    try:
        parts = urlsplit(bare)
    except ValueError:
        return bare
    if not parts.scheme:
        return bare
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()


def stable_id(url: str) -> str:
    """A UUID (version 5, URL namespace) that stays the same for the same device,
    whatever its credentials."""
    return _format_uuid(sha1(_NAMESPACE_URL + identity(url).encode("utf-8")).digest(), 5)


def new_id() -> str:
    """A random UUID (version 4)."""
    return _format_uuid(os.urandom(16), 4)


def is_uuid(text: str) -> bool:
    return bool(_UUID.fullmatch(text))


def _no_kind_hint(url: str) -> str:
    """Why a URL implies no device kind, and what would (credentials never shown)."""
    url = redact_url(url)
    if "://" in url:
        scheme = url.split("://", 1)[0]
        return (f"its scheme {scheme}:// is not one sereport probes; allowed: rtsp://, rtsps://, "
                "gb28181://, an absolute file path, or a bare IPv4 address (a photo device)")
    head = url.split("/", 1)[0]
    host = head.rsplit(":", 1)[0] if head.count(":") == 1 else head
    if is_ipv4(host) or (head != url and "." in host):
        return f"a camera needs its scheme: e.g. rtsp://{url}"
    return (f"a local file needs an absolute path, e.g. /data/{url.lstrip('./')}; a camera "
            "needs rtsp:// or gb28181://; a photo device is a bare IPv4 address")


def _url_problem(url: str, kind: str) -> str:
    """What is wrong with a URL for its kind, '' when nothing is."""
    if kind == "file":
        return "" if url.startswith("/") else "a file device needs an absolute path"
    if kind == "photo":
        return "" if is_ipv4(url) else "a photo device's url is its bare IPv4 address"
    schemes = {"rtsp": ("rtsp", "rtsps"), "gb28181": ("gb28181", "gb28281")}[kind]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        text = str(exc)
        if "out of range" in text or "Port" in text:
            return "its port is not a port; allowed: 1 to 65535"
        return "it is not a URL"
    if parts.scheme.lower() not in schemes:
        return f"a {kind} device needs a {' or '.join(s + '://' for s in schemes)} url"
    if not parts.hostname:
        return "it names no host"
    if port == 0:
        return "its port is 0; allowed: 1 to 65535"
    return ""


def _ip_problem(ip: str) -> str:
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return "is not an IP address; allowed: e.g. 192.168.1.100 or fe80::1"
    return ""


def parse_device(raw: object, where: str) -> tuple[Device | None, list[str]]:
    """Validate one device mapping; ``where`` prefixes every problem."""
    if not isinstance(raw, dict):
        return None, [f"{where}: {type(raw).__name__} is not a mapping; "
                      f"allowed: a mapping with keys {', '.join(FIELDS)}"]
    problems: list[str] = []
    for key in raw:
        if key not in FIELDS:
            problems.append(f"{where}.{key}: unknown key; allowed: {', '.join(FIELDS)}")

    def text(key: str, default: str = "") -> str:
        value = raw.get(key, default)
        if value is None:
            value = default
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            shown = "the value" if key == "password" else repr(value)
            problems.append(f"{where}.{key}: {shown} is not a string")
            return default
        return str(value).strip()

    url = text("url")
    shown = redact_url(url)
    values = {key: text(key) for key in ("name", "location", "permission_id")}
    if not url:
        given = "missing" if raw.get("url") is None else f"{raw['url']!r} is empty"
        problems.append(f"{where}.url: {given}; allowed: rtsp://..., gb28181://..., "
                        "an absolute file path, or a bare IPv4 address")
    kind = text("type") or infer_kind(url) or ""
    if url and kind not in KINDS:
        given = raw.get("type")
        if given:
            problems.append(f"{where}.type: {given!r}; allowed: {', '.join(KINDS)}")
        else:
            problems.append(f"{where}.url: {shown!r} is not a device url: {_no_kind_hint(url)}")
    elif url:
        wrong = _url_problem(url, kind)
        if wrong:
            problems.append(f"{where}.url: {shown!r}: {wrong}")
    given_ip = text("ip")
    if given_ip.startswith("[") and given_ip.endswith("]"):  # an IPv6 literal as URLs write it
        given_ip = given_ip[1:-1]
    ip = given_ip or (ip_from_url(url, kind) if kind in KINDS else "")
    if given_ip and _ip_problem(given_ip):
        problems.append(f"{where}.ip: {given_ip!r} {_ip_problem(given_ip)}")
    elif url and kind in KINDS and not ip and not any(p.startswith(f"{where}.url") for p in problems):
        problems.append(f"{where}.ip: missing and url {shown!r} gives none; "
                        "allowed: the device's IP address")
    dev_id = text("id") or (stable_id(url) if url else "")
    if raw.get("id") not in (None, "") and not is_uuid(dev_id):
        problems.append(f"{where}.id: {dev_id!r} is not a UUID; "
                        "allowed: e.g. 95274d2c-0941-4d96-b032-ab200f81362c, "
                        "or leave it out to have one made")
    ep_type = text("ep_type") or DEFAULT_EP_TYPE.get(kind, "2")
    if ep_type not in EP_TYPES:
        problems.append(f"{where}.ep_type: {raw.get('ep_type')!r} is not a device class; "
                        "allowed: 0 gate, 1 snapshot camera, 2 IPC static, "
                        "3 IPC dynamic, 4 access control")
    status = text("status", "offline")
    if status not in STATUSES:
        problems.append(f"{where}.status: {status!r}; allowed: online, offline")
    probe = text("probe")
    if probe and probe not in PROBES:
        problems.append(f"{where}.probe: {probe!r}; allowed: {', '.join(PROBES)}")
    elif probe == "rtsp" and kind != "rtsp" or probe == "file" and kind != "file":
        problems.append(f"{where}.probe: {probe!r} does not fit a {kind or 'device'} url; "
                        f"allowed: {probe} only for {probe} devices")
    elif probe not in ("", "file", "none") and kind == "file":
        problems.append(f"{where}.probe: {probe!r} needs a network device; allowed for a "
                        "local file: file, none")
    port = raw.get("probe_port", 0)
    if port in (None, ""):
        port = 0
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        problems.append(f"{where}.probe_port: {port!r} is not a port; allowed: 1 to 65535")
        port = 0
    credentials = {"username": text("username"), "password": text("password")}
    if problems:
        return None, problems
    return Device(id=dev_id, url=url, type=kind, ip=ip, ep_type=ep_type, status=status,
                  probe=probe, probe_port=port, **values, **credentials), []
