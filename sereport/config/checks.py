"""The value checks: a parsed mapping in, a Config or every problem out.

Each problem is one line naming the file its value came from, the key, the
bad value and what is allowed.  Nothing here reads a file but the TLS files
it must check are readable.
"""

from __future__ import annotations

import ipaddress
import math
import os
from dataclasses import replace
from urllib.parse import urlsplit

from sereport.config.model import (ALIASES, EXTENSIONS, FORMATS, LIST_KEYS, _TOKEN,
                                   DEFAULT_SDK_VERSION_LINK, DEFAULT_SERIAL_FILES,
                                   DEFAULT_SW_VERSION_COMMAND, DEFAULT_SW_VERSION_FILE,
                                   Config, ConfigError)
from sereport.devices.records import Device, identity, parse_device
from sereport.redact import redact_url

MAX_MESSAGE = 300  # characters of a problem's text before its 'allowed:' part


class _Checker:
    """Pulls typed values out of the raw mapping, collecting problems."""

    def __init__(self, raw: dict, path: str, sources: dict[str, str] | None = None):
        self.raw = raw
        self.path = path
        self.sources = sources or {}  # key -> the file its value came from
        self.problems: list[str] = []

    def bad(self, key: str, message: str) -> None:
        root = key.split(".")[0].split("[")[0]
        if len(key) > 80:
            key = key[:77] + "..."
        if len(message) > MAX_MESSAGE:  # a huge value must not make a huge log line
            head, sep, allowed = message.rpartition("; allowed: ")
            if not sep:
                head, allowed = message, ""
            head = head[:MAX_MESSAGE // 2] + "..." + head[-MAX_MESSAGE // 3:]  # keeps "is not ..."
            message = head + (sep + allowed[:MAX_MESSAGE] if sep else "")
        self.problems.append(f"{self.sources.get(root, self.path)}: {key}: {message}")

    def number(self, key: str, default: float, low: float, high: float, what: str) -> float:
        value = self.raw.get(key, default)
        allowed = f"allowed: {what}, from {low:g} to {high:g}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.bad(key, f"{value!r} is not a number; {allowed}")
            return default
        if isinstance(value, float) and not math.isfinite(value) or not low <= value <= high:
            self.bad(key, f"{value!r} is out of range; {allowed}")
            return default
        return float(value)

    def integer(self, key: str, default: int, low: int, high: int, what: str) -> int:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.bad(key, f"{value!r} is not allowed; allowed: {what}, a whole number "
                          f"from {low} to {high}")
            return default
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            self.bad(key, f"{value!r} is not a boolean; allowed: true, false")
            return default
        return value

    def text(self, key: str, default: str, *, secret: bool = False) -> str:
        value = self.raw.get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            shown = "the value" if secret else repr(value)
            hint = f' (put it in quotes: "{value}")' if isinstance(value, float) and not secret else ""
            self.bad(key, f"{shown} is not a string; allowed: text{hint}")
            return default
        return str(value).strip()

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(key, default)
        if value not in allowed:
            self.bad(key, f"{value!r} is not allowed; allowed: {', '.join(allowed)}")
            return default
        return value

    def path_(self, key: str, default: str, *, optional: bool = False) -> str:
        value = self.text(key, default)
        if optional and not value:
            return value
        if not value.startswith("/"):
            self.bad(key, f"{value!r} is not an absolute path; allowed: a path starting with /")
            return default
        return value

    def path_list(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.raw.get(key, list(default))
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(
                isinstance(v, str) and v.startswith("/") for v in value):
            self.bad(key, f"{value!r} is not a list of absolute paths; "
                          "allowed: e.g. [/proc/device-tree/serial-number]")
            return default
        return tuple(value)


def _aliased(raw: dict, checker: _Checker) -> dict:
    """Fold the later firmware's key names onto the vendor's."""
    merged = dict(raw)
    for name, alias in ALIASES.items():
        if alias in merged:
            value = merged.pop(alias)
            if name in merged and merged[name] != value:
                checker.bad(alias, f"differs from {name}; allowed: give one of "
                                   f"{name} or its alias {alias}, or the same value in both")
            merged.setdefault(name, value)
    return merged


def _urls(checker: _Checker) -> tuple[str, ...]:
    value = checker.raw.get("WEB_HEART_URL", "")
    if value is None:
        value = ""
    if isinstance(value, str):
        items = [u.strip() for u in value.split(",")]
    elif isinstance(value, list) and all(isinstance(u, str) for u in value):
        items = [u.strip() for u in value]
    else:
        checker.bad("WEB_HEART_URL", f"{type(value).__name__} is not allowed; allowed: "
                                     "a URL, several separated by commas, or a list of URLs")
        return ()
    urls = []
    for url in filter(None, items):
        try:
            parts = urlsplit(url)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
            _ = parts.port  # raises ValueError on a bad port
        except ValueError:
            ok = False
        if not ok:
            checker.bad("WEB_HEART_URL", f"{redact_url(url)!r} is not an http:// or "
                                         "https:// URL with a host; allowed: e.g. "
                                         "http://192.168.1.19:9528/DeviceStatus")
        elif url in urls:
            checker.bad("WEB_HEART_URL", f"{redact_url(url)!r} is given twice; "
                                         "allowed: each URL once")
        else:
            urls.append(url)
    return tuple(urls)


def _formats(checker: _Checker) -> tuple[str, ...]:
    value = checker.raw.get("formats", "gateway")
    allowed = "allowed: gateway, media, both, or a list of gateway and media"
    if value == "both":
        return FORMATS
    if isinstance(value, str):
        value = [value]
    if (not isinstance(value, list) or not value
            or not all(v in FORMATS for v in value) or len(set(value)) != len(value)):
        checker.bad("formats", f"{value!r} is not allowed; {allowed}")
        return ("gateway",)
    return tuple(value)


def _devices(checker: _Checker) -> tuple[Device, ...]:
    value = checker.raw.get("devices") or []
    if not isinstance(value, list):
        checker.bad("devices", f"{type(value).__name__} is not a list; "
                               "allowed: a list of device mappings")
        return ()
    devices: list[Device] = []
    seen: dict[str, str] = {}
    for i, raw in enumerate(value):
        where = f"{checker.path}: devices[{i}]"
        device, problems = parse_device(raw, where)
        checker.problems.extend(problems)
        if device is None:
            continue
        for attr in ("url", "id"):
            key = identity(device.url) if attr == "url" else device.id
            if (attr, key) in seen:
                shown = redact_url(device.url) if attr == "url" else key
                checker.problems.append(
                    f"{where}.{attr}: {shown!r} is already used by {seen[(attr, key)]}; "
                    f"allowed: each device's {attr} once")
                break
        else:
            name = f"devices[{i}]" + (f" ({device.name})" if device.name else "")
            seen[("url", identity(device.url))] = seen[("id", device.id)] = name
            devices.append(device)
    return tuple(devices)


def _readable_file(checker: _Checker, key: str) -> str:
    path = checker.path_(key, "", optional=True)
    if path:
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            checker.bad(key, f"{path!r} cannot be read: {exc.strerror}; allowed: a readable PEM file")
    return path


def _headers(checker: _Checker) -> tuple[tuple[str, str], ...]:
    value = checker.raw.get("http_headers") or {}
    if not isinstance(value, dict):
        checker.bad("http_headers", f"{type(value).__name__} is not a mapping; allowed: "
                                    "header names to values, e.g. {Authorization: Bearer TOKEN}")
        return ()
    headers = []
    for name, text in value.items():
        name = str(name)
        if not name or not set(name) <= _TOKEN:
            checker.bad(f"http_headers.{name}", "is not a valid header name; allowed: letters, "
                                                "digits and !#$%&'*+-.^_`|~")
        elif name.lower() in ("content-type", "content-length", "host"):
            checker.bad(f"http_headers.{name}", "is set by sereport itself; allowed: other headers")
        elif isinstance(text, bool) or not isinstance(text, (str, int)) or any(
                c in str(text) for c in "\r\n\0"):
            checker.bad(f"http_headers.{name}", "the value is not one line of text; allowed: text")
        elif not str(text).isascii():
            checker.bad(f"http_headers.{name}", "the value has non-ASCII characters; allowed: "
                                                "ASCII text (HTTP headers are not UTF-8)")
        else:
            headers.append((name, str(text)))
    return tuple(headers)


def _extensions(checker: _Checker) -> tuple[str, ...]:
    value = checker.raw.get("extensions") or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(v in EXTENSIONS for v in value):
        checker.bad("extensions", f"{value!r} is not allowed; allowed: a list of "
                                  f"{', '.join(EXTENSIONS)} (or [] for the vendor's fields only)")
        return ()
    return tuple(dict.fromkeys(value))


def _interface(checker: _Checker) -> str:
    value = checker.text("interface", "")
    if value and (len(value) > 15 or not all(c.isalnum() or c in "_.-:@" for c in value)):
        checker.bad("interface", f"{value!r} is not an interface name; "
                                 "allowed: e.g. eth0, or leave empty for the default-route interface")
        return ""
    return value


def from_mapping(raw: dict, path: str, sources: dict[str, str] | None = None,
                 overridden: tuple[str, ...] = ()) -> Config:
    """Validate a parsed mapping; ConfigError lists every problem."""
    checker = _Checker({}, path, sources)
    checker.raw = _aliased(raw, checker)
    known = set(Config.__dataclass_fields__) - {"path", "urls", "interval", "overridden", "layers"}
    known |= {"WEB_HEART_URL", "WEB_HEART_TIME"}
    for key in checker.raw:
        if key not in known:
            import difflib  # 1.6 MiB: only for a config with a typo

            hint = difflib.get_close_matches(str(key), sorted(known), n=1)
            checker.bad(repr(key) if not isinstance(key, str) or not key.isprintable() else key,
                        "unknown key; " + (
                f"did you mean {hint[0]}?" if hint else "see the README for the keys"))
    before = len(checker.problems)
    dev_sno = checker.text("dev_sno", "", secret=True)
    if not dev_sno and len(checker.problems) == before:
        checker.bad("dev_sno", "missing; allowed: the licence code the platform "
                               "issued to this box, e.g. ZKZCPI000120190807142601")
    cfg = Config(
        path=path,
        dev_sno=dev_sno,
        urls=_urls(checker),
        interval=checker.number("WEB_HEART_TIME", 5, 0.1, 86400, "seconds between beats"),
        formats=_formats(checker),
        media_list_key=checker.choice("media_list_key", "media_devices", LIST_KEYS),
        serial_number=checker.text("serial_number", ""),
        host_root=checker.path_("host_root", "/"),
        serial_files=checker.path_list("serial_files", DEFAULT_SERIAL_FILES),
        data_path=checker.path_("data_path", "/data"),
        sw_version_command=checker.path_("sw_version_command", DEFAULT_SW_VERSION_COMMAND,
                                         optional=True),
        sw_version_file=checker.path_("sw_version_file", DEFAULT_SW_VERSION_FILE, optional=True),
        sdk_version=checker.text("sdk_version", ""),
        sdk_version_file=checker.path_("sdk_version_file", "", optional=True),
        sdk_version_link=checker.path_("sdk_version_link", DEFAULT_SDK_VERSION_LINK,
                                       optional=True),
        interface=_interface(checker),
        http_timeout=checker.number("http_timeout", 10, 0.1, 300, "seconds for one POST"),
        metrics_timeout=checker.number("metrics_timeout", 2, 0.01, 60,
                                       "seconds one gateway reading may take"),
        send_url_credentials=checker.flag("send_url_credentials", False),
        state_dir=checker.path_("state_dir", "", optional=True) or default_state_dir(),
        runtime_dir=checker.path_("runtime_dir", "", optional=True) or default_runtime_dir(),
        probe_interval=checker.number("probe_interval", 0, 0, 86400,
                                      "seconds between probe cycles, 0 for every beat"),
        probe_timeout=checker.number("probe_timeout", 3, 0.05, 600, "seconds one probe may take"),
        probe_connect_timeout=checker.number("probe_connect_timeout", 2, 0.05, 600,
                                             "seconds a probe may wait for a connection"),
        probe_concurrency=checker.integer("probe_concurrency", 512, 1, 10000,
                                          "probes at the same time"),
        probe_keep_connections=checker.flag("probe_keep_connections", True),
        offline_after=checker.integer("offline_after", 2, 1, 100,
                                      "failed probes in a row before a device is offline"),
        online_after=checker.integer("online_after", 1, 1, 100,
                                     "good probes in a row before a device is online again"),
        photo_port=checker.integer("photo_port", 80, 1, 65535, "the TCP port photo devices answer on"),
        photo_seen_dir=checker.path_("photo_seen_dir", "", optional=True),
        photo_fresh=checker.number("photo_fresh", 60, 1, 86400,
                                   "seconds a picture keeps a photo device online"),
        tls_ca_file=_readable_file(checker, "tls_ca_file"),
        tls_client_cert=_readable_file(checker, "tls_client_cert"),
        tls_client_key=_readable_file(checker, "tls_client_key"),
        http_headers=_headers(checker),
        hmac_secret=checker.text("hmac_secret", "", secret=True),
        hmac_header=checker.text("hmac_header", "X-Sereport-Signature"),
        extensions=_extensions(checker),
        offline_beat_on_stop=checker.flag("offline_beat_on_stop", True),
        report_on_change=checker.flag("report_on_change", True),
        event_debounce=checker.number("event_debounce", 0.5, 0, 60,
                                      "seconds changes coalesce into one event report"),
        event_min_gap=checker.number("event_min_gap", 2, 0, 3600,
                                     "seconds between event reports, at least"),
        onvif_listen=checker.flag("onvif_listen", False),
        api_enabled=checker.flag("api_enabled", True),
        api_host=_unbracketed(checker.text("api_host", "127.0.0.1")),
        api_port=checker.integer("api_port", 5556, 1, 65535, "the local API's TCP port"),
        api_token=checker.text("api_token", "", secret=True),
        api_idle_timeout=checker.integer("api_idle_timeout", 10, 1, 3600,
                                         "seconds before a quiet API connection is closed"),
        overridden=overridden,
        devices=_devices(checker),
    )
    if cfg.api_enabled and not cfg.api_token and not _loopback(cfg.api_host):
        checker.bad("api_host", f"{cfg.api_host!r} is not a loopback address and api_token is "
                                "empty; allowed: 127.0.0.1, or set api_token so every request "
                                "must carry it")
    if cfg.tls_client_key and not cfg.tls_client_cert:
        checker.bad("tls_client_key", "is set without tls_client_cert; allowed: both, or "
                                      "tls_client_cert alone for a file holding both")
    if not cfg.hmac_header or not set(cfg.hmac_header) <= _TOKEN:
        checker.bad("hmac_header", f"{cfg.hmac_header!r} is not a valid header name")
    if 0 < cfg.probe_interval < 0.1:
        checker.bad("probe_interval", f"{cfg.probe_interval:g} is out of range; allowed: 0 for "
                                      "every beat, or 0.1 to 86400 seconds")
    if "probe_connect_timeout" not in checker.raw:  # the default follows a shorter timeout
        cfg = replace(cfg, probe_connect_timeout=min(cfg.probe_connect_timeout, cfg.probe_timeout))
    if cfg.probe_connect_timeout > cfg.probe_timeout:
        checker.bad("probe_connect_timeout", f"{cfg.probe_connect_timeout:g} is longer than "
                                             f"probe_timeout {cfg.probe_timeout:g}; allowed: at "
                                             "most probe_timeout")
    if checker.problems:
        raise ConfigError(checker.problems)
    return cfg


def default_state_dir() -> str:
    """Where the registry, the overrides and the API token live when the config does not
    say: the service's own (systemd's StateDirectory=, /var/lib/sereport), else the user's
    state directory ($XDG_STATE_HOME, ~/.local/state). Never /var outside a service."""
    given = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if given.startswith("/"):
        return given
    xdg = os.environ.get("XDG_STATE_HOME", "")
    if xdg.startswith("/"):
        return os.path.join(xdg, "sereport")
    return os.path.join(os.path.expanduser("~"), ".local", "state", "sereport")


def default_runtime_dir() -> str:
    """Where runtime files go when the config does not say: the service's own
    (systemd's RuntimeDirectory=, /run/sereport), else the user's runtime
    directory, else a directory of the user's in /tmp. Never /run outside a
    service: a reporter started by hand must not touch the installed one's files."""
    given = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if given.startswith("/"):
        return given
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    try:  # only the user's own: after `su` root may still carry another user's
        st = os.stat(xdg) if xdg.startswith("/") else None
    except OSError:
        st = None
    if st is not None and st.st_uid == os.geteuid() and not st.st_mode & 0o077:
        return os.path.join(xdg, "sereport")
    return f"/tmp/sereport-{os.geteuid()}"


def _unbracketed(host: str) -> str:
    """An IPv6 address as in a URL, [::1], is the address ::1."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
