"""The two report documents, exactly as SPEC.md lays them out.

Both are built from the same snapshot: one gateway state and one list of
(device, status) pairs, so the two POSTs of a beat never disagree.

A device's entry in a document changes only with its record or its status,
so ``Entries`` keeps each entry, and its JSON, from one beat to the next, and
``encode`` splices the kept JSON into the body.  With hundreds of devices,
building every entry's dict and encoding every value again each beat was most
of a beat's garbage (about 800 KiB of objects at once for 500 devices), a
high-water mark the interpreter's heap kept.
"""

from __future__ import annotations

import json
from typing import Iterable, List, Tuple

from sereport.config import Config
from sereport.devices.records import Device
from sereport.box.gateway import GatewayState
from sereport.redact import strip_credentials

DeviceStatus = Tuple[Device, str]


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class EntryList(List[dict]):
    """A document's list of device entries (a list, as any other), with each entry's
    JSON as ``Entries`` kept it, in the same order, for ``encode``."""

    def __init__(self, entries: list, encoded: list):
        super().__init__(entries)
        self.encoded = encoded


def encode(document: dict) -> bytes:
    """The document's JSON in UTF-8, compact: byte for byte what ``json.dumps`` (compact,
    ``ensure_ascii=False``) gives, with the kept JSON of an ``EntryList``'s entries
    spliced in rather than encoded again."""
    parts = []
    for key, value in document.items():
        if isinstance(value, EntryList):
            parts.append(_json(key) + b":[" + b",".join(value.encoded) + b"]")
        else:
            parts.append(_json(key) + b":" + _json(value))
    return b"{" + b",".join(parts) + b"}"


def _url(device: Device, cfg: Config) -> str:
    return device.url if cfg.send_url_credentials else strip_credentials(device.url)


def gateway_entry(cfg: Config, dev_sno: str, device: Device, status: str) -> dict:
    sub = {
        "ep_id": f"{dev_sno}__{device.ip}",
        "ep_name": device.name,
        "ep_ip": device.ip,
        "ep_status": status,
        "ep_location": device.location,
        "ep_type": device.ep_type,
    }
    if device.type != "photo":  # ep_url is for stream devices
        sub["ep_url"] = _url(device, cfg)
    return sub


def media_entry(cfg: Config, dev_sno: str, device: Device, status: str) -> dict:
    return {
        "media_device_id": device.id,
        "media_device_name": device.name,
        "media_device_url": _url(device, cfg),
        "media_device_ip": device.ip,
        "media_device_status": status,
        "media_device_type": device.type,
        "permission_id": device.permission_id,
    }


class Entries:
    """Each device's entry in a document, and its JSON, kept while its record (the same
    Device object: the registry hands out the same ones until they change), its status,
    the licence key and the config stay.  The entries are shared by every document
    built from them: nobody changes them."""

    def __init__(self, build):
        self._build = build  # gateway_entry or media_entry
        self._kept: dict[str, tuple] = {}  # device id -> (device, status, key, entry, JSON)
        self._cfg: Config | None = None

    def of(self, cfg: Config, dev_sno: str, devices: list[DeviceStatus]) -> EntryList:
        if cfg is not self._cfg:
            self._cfg, self._kept = cfg, {}
        old, kept = self._kept, {}
        entries, encoded = [], []
        for device, status in devices:
            item = old.get(device.id)
            if item is None or item[0] is not device or item[1] != status or item[2] != dev_sno:
                entry = self._build(cfg, dev_sno, device, status)
                item = (device, status, dev_sno, entry, _json(entry))
            kept[device.id] = item
            entries.append(item[3])
            encoded.append(item[4])
        self._kept = kept  # devices gone are dropped
        return EntryList(entries, encoded)


def _entries(cfg: Config, dev_sno: str, devices: list[DeviceStatus], build,
             kept: Entries | None) -> list:
    if kept is not None:
        return kept.of(cfg, dev_sno, devices)
    return [build(cfg, dev_sno, device, status) for device, status in devices]


def gateway_document(cfg: Config, state: GatewayState,
                     devices: Iterable[DeviceStatus], kept: Entries | None = None) -> dict:
    return {
        "gateway_ip": state.ip,
        "gateway_name": state.name,
        "gateway_status": state.status,
        "gateway_sn": state.sn,
        "dev_sno": state.dev_sno,
        "gateway_ext_data": dict(state.ext),
        "sub_devices": _entries(cfg, state.dev_sno, list(devices), gateway_entry, kept),
    }


def media_document(cfg: Config, state: GatewayState,
                   devices: Iterable[DeviceStatus], kept: Entries | None = None) -> dict:
    return {
        "mq_license_key": state.dev_sno,
        cfg.media_list_key: _entries(cfg, state.dev_sno, list(devices), media_entry, kept),
    }


BUILDERS = {"gateway": gateway_document, "media": media_document}
ENTRIES = {"gateway": gateway_entry, "media": media_entry}


def documents(cfg: Config, state: GatewayState, devices: Iterable[DeviceStatus],
              kept: dict[str, Entries] | None = None) -> list[tuple[str, dict]]:
    """(format, document) for every format the config asks for, in order.  ``kept``
    (format -> Entries, filled as needed) keeps the entries from one call to the next."""
    devices = list(devices)
    if kept is not None:
        for fmt in cfg.formats:
            if fmt not in kept:
                kept[fmt] = Entries(ENTRIES[fmt])
    return [(fmt, BUILDERS[fmt](cfg, state, devices, kept[fmt] if kept is not None else None))
            for fmt in cfg.formats]
