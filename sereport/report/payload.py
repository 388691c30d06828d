"""The two report documents, exactly as SPEC.md lays them out.

Both are built from the same snapshot: one gateway state and one list of
(device, status) pairs, so the two POSTs of a beat never disagree.
"""

from __future__ import annotations

from typing import Iterable, Tuple

from sereport.config import Config
from sereport.devices.records import Device
from sereport.box.gateway import GatewayState
from sereport.redact import strip_credentials

DeviceStatus = Tuple[Device, str]


def _url(device: Device, cfg: Config) -> str:
    return device.url if cfg.send_url_credentials else strip_credentials(device.url)


def gateway_document(cfg: Config, state: GatewayState,
                     devices: Iterable[DeviceStatus]) -> dict:
    subs = []
    for device, status in devices:
        sub = {
            "ep_id": f"{state.dev_sno}__{device.ip}",
            "ep_name": device.name,
            "ep_ip": device.ip,
            "ep_status": status,
            "ep_location": device.location,
            "ep_type": device.ep_type,
        }
        if device.type != "photo":  # ep_url is for stream devices
            sub["ep_url"] = _url(device, cfg)
        subs.append(sub)
    return {
        "gateway_ip": state.ip,
        "gateway_name": state.name,
        "gateway_status": state.status,
        "gateway_sn": state.sn,
        "dev_sno": state.dev_sno,
        "gateway_ext_data": dict(state.ext),
        "sub_devices": subs,
    }


def media_document(cfg: Config, state: GatewayState,
                   devices: Iterable[DeviceStatus]) -> dict:
    return {
        "mq_license_key": state.dev_sno,
        cfg.media_list_key: [
            {
                "media_device_id": device.id,
                "media_device_name": device.name,
                "media_device_url": _url(device, cfg),
                "media_device_ip": device.ip,
                "media_device_status": status,
                "media_device_type": device.type,
                "permission_id": device.permission_id,
            }
            for device, status in devices
        ],
    }


BUILDERS = {"gateway": gateway_document, "media": media_document}


def documents(cfg: Config, state: GatewayState,
              devices: Iterable[DeviceStatus]) -> list[tuple[str, dict]]:
    """(format, document) for every format the config asks for, in order."""
    devices = list(devices)
    return [(fmt, BUILDERS[fmt](cfg, state, devices)) for fmt in cfg.formats]
