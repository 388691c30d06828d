"""The config's shape: every key with its default, the constants the checks
and the loader share, and the error every problem ends up in."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from sereport.devices.records import Device

DEFAULT_PATH = "/etc/sereport/sereport.yaml"
OVERRIDES_FILE = "overrides.yaml"  # in state_dir: what the local API set
# Keys the local API may not set: devices (their own endpoints), the API's own
# binding and token, and every key that names a file, a directory or a program
# of the box (through the API they would read or run anything as the daemon).
NOT_SETTABLE = ("devices", "api_enabled", "api_host", "api_port", "api_token",
                "api_idle_timeout", "host_root", "state_dir", "runtime_dir", "data_path", "serial_files",
                "sw_version_file", "sw_version_command", "sdk_version_file", "sdk_version_link",
                "photo_seen_dir", "tls_ca_file", "tls_client_cert", "tls_client_key",
                # would send every camera's password to whatever URL the caller sets
                "send_url_credentials")
FORMATS = ("gateway", "media")
EXTENSIONS = ("beat_seq", "boot_id", "sent_at", "ai", "uptime", "clock_synced")
_TOKEN = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
LIST_KEYS = ("media_devices", "sub_devices")
# vendor name -> later firmware alias
ALIASES = {
    "WEB_HEART_URL": "MEDIA_DEVICE_MONITOR_URL",
    "WEB_HEART_TIME": "MEDIA_DEVICE_MONITOR_REPORT_PEROID",
}
CANONICAL = {alias: name for name, alias in ALIASES.items()}


def canonical(key: str) -> str:
    """The vendor's name for a key given under the later firmware's alias."""
    return CANONICAL.get(key, key)


DEFAULT_SERIAL_FILES = (
    "/sys/bus/i2c/devices/1-0017/information",  # SE5/SE7: JSON with "product sn"
    "/proc/device-tree/serial-number",
    "/sys/class/dmi/id/product_serial",
)

DEFAULT_SW_VERSION_COMMAND = "/usr/sbin/bm_version"  # SophonSDK firmware (kernel 5.4)
DEFAULT_SW_VERSION_FILE = "/system/data/buildinfo.txt"  # BMNNSDK2 firmware (kernel 4.9)
DEFAULT_SDK_VERSION_LINK = "/opt/sophon/libsophon-current"  # -> libsophon-0.5.1


@dataclass(frozen=True)
class Config:
    path: str
    dev_sno: str
    urls: tuple[str, ...] = ()
    interval: float = 5.0
    formats: tuple[str, ...] = ("gateway",)
    media_list_key: str = "media_devices"
    serial_number: str = ""
    host_root: str = "/"  # where the box's / is: every box file is read under it
    serial_files: tuple[str, ...] = DEFAULT_SERIAL_FILES
    data_path: str = "/data"
    sw_version_command: str = DEFAULT_SW_VERSION_COMMAND
    sw_version_file: str = DEFAULT_SW_VERSION_FILE
    sdk_version: str = ""
    sdk_version_file: str = ""
    sdk_version_link: str = DEFAULT_SDK_VERSION_LINK
    interface: str = ""
    http_timeout: float = 10.0
    metrics_timeout: float = 2.0
    send_url_credentials: bool = False
    state_dir: str = "/var/lib/sereport"
    runtime_dir: str = "/run/sereport"  # the file's "" (the default) is resolved at load
    probe_interval: float = 0.0  # 0 = every beat interval
    probe_timeout: float = 3.0
    probe_connect_timeout: float = 2.0
    probe_concurrency: int = 512
    probe_keep_connections: bool = True
    offline_after: int = 2
    online_after: int = 1
    photo_port: int = 80
    photo_seen_dir: str = ""  # '' = <runtime_dir>/photo-seen
    photo_fresh: float = 60.0
    tls_ca_file: str = ""  # '' = the system's CAs
    tls_client_cert: str = ""
    tls_client_key: str = ""
    http_headers: tuple[tuple[str, str], ...] = ()
    hmac_secret: str = field(default="", repr=False)
    hmac_header: str = "X-Sereport-Signature"
    extensions: tuple[str, ...] = ()
    offline_beat_on_stop: bool = True
    report_on_change: bool = True
    event_debounce: float = 0.5  # seconds changes coalesce into one event report
    event_min_gap: float = 2.0  # seconds between event reports, at least
    onvif_listen: bool = False  # hear ONVIF cameras' Hello and Bye (WS-Discovery, UDP 3702)
    api_enabled: bool = True
    api_host: str = "127.0.0.1"
    api_port: int = 5556
    api_token: str = field(default="", repr=False)
    api_idle_timeout: int = 10  # seconds: a quiet API connection, or a request still arriving, is closed
    overridden: tuple[str, ...] = ()  # keys set through the API (overrides.yaml)
    # where each value came from (config.overrides.Layers), set by config.load
    layers: object = field(default=None, compare=False, repr=False)
    devices: tuple[Device, ...] = field(default=())

    @property
    def overrides_path(self) -> str:
        return os.path.join(self.state_dir, OVERRIDES_FILE)

    @property
    def probe_every(self) -> float:
        return self.probe_interval or self.interval

    @property
    def registry_path(self) -> str:
        return os.path.join(self.state_dir, "devices.json")

    @property
    def photo_dir(self) -> str:
        return self.photo_seen_dir or os.path.join(self.runtime_dir, "photo-seen")

    @property
    def timeouts(self) -> tuple[float, float]:
        """(connect, read) for one POST: together below the beat interval."""
        budget = min(self.http_timeout, 0.8 * self.interval)
        connect = min(3.0, budget / 2)
        return connect, budget - connect


class ConfigError(Exception):
    """A config that cannot be used; ``problems`` holds one line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems
