"""tcp: the device accepts a TCP connection on a port."""

from __future__ import annotations

from urllib.parse import urlsplit

from sereport.probes import Outcome, Settings, connect

DEFAULT_PORT = {"rtsp": 554, "gb28181": 5060}


def port_of(device, settings: Settings) -> int:
    if device.probe_port:
        return device.probe_port
    if device.type == "photo":
        return settings.photo_port
    try:
        port = urlsplit(device.url).port
    except ValueError:
        port = None
    return port or DEFAULT_PORT.get(device.type, 80)


def probe(device, settings: Settings):
    port = port_of(device, settings)
    stream = yield from connect(device.ip, port, settings)
    stream.close()
    return Outcome(True, "ok", f"TCP {port} open")
