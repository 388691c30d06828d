"""Checking a heartbeat document against SPEC.md, field by field.

``check(doc)`` names the format and lists every problem as "path: problem",
e.g. ``sub_devices[2].ep_type: '7' is not one of "0".."4"``.  sereport's
own optional extension fields are allowed; any other unknown field is a
problem, so a platform developer sees exactly where a sender strays.
"""

from __future__ import annotations

import re

STATUSES = ("online", "offline")
EP_TYPES = ("0", "1", "2", "3", "4")
MEDIA_TYPES = ("photo", "rtsp", "file", "gb28181")
EXTENSIONS = ("beat_seq", "boot_id", "sent_at")
MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
GATEWAY_FIELDS = ("gateway_ip", "gateway_name", "gateway_status", "gateway_sn", "dev_sno",
                  "gateway_ext_data", "sub_devices")
EXT_FIELDS = {"sw_version": str, "sdk_version": str, "gateway_mac": str, "cpu_usage": float,
              "memory_size": float, "memory_usage": float, "disk_size": float,
              "disk_free_size": float,
              # sereport's opt-in extensions (extensions: [ai, uptime, clock_synced])
              "tpu_usage": float, "vpu_usage": float, "chip_temp": float, "board_temp": float,
              "tpu_memory_size": float, "tpu_memory_usage": float, "uptime": float,
              "clock_synced": bool}
SUB_FIELDS = {"ep_id": True, "ep_name": False, "ep_ip": True, "ep_status": True,
              "ep_location": True, "ep_type": True, "ep_url": False}
MEDIA_FIELDS = ("media_device_id", "media_device_name", "media_device_url", "media_device_ip",
                "media_device_status", "media_device_type", "permission_id")


def _type_name(value) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


class _Problems(list):
    def need(self, obj: dict, key: str, kind, where: str) -> object:
        if key not in obj:
            self.append(f"{where}{key}: missing")
            return None
        value = obj[key]
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) if kind is float \
            else isinstance(value, kind)
        if not ok:
            wanted = {str: "string", float: "number", dict: "object", list: "list",
                      bool: "boolean"}[kind]
            self.append(f"{where}{key}: is a {_type_name(value)}, not a {wanted}")
            return None
        return value

    def unknown(self, obj: dict, known, where: str) -> None:
        for key in obj:
            if key not in known:
                self.append(f"{where}{key}: unknown field")

    def one_of(self, value, allowed, where: str) -> None:
        if value is not None and value not in allowed:
            self.append(f"{where}: {value!r} is not one of {', '.join(allowed)}")


def _objects(items, key: str, p: _Problems):
    """(where, item) for each object of a list; anything else is a problem."""
    for i, item in enumerate(items or []):
        where = f"{key}[{i}]"
        if isinstance(item, dict):
            yield where, item
        else:
            p.append(f"{where}: is a {_type_name(item)}, not an object")


def _gateway(doc: dict, p: _Problems) -> None:
    p.unknown(doc, GATEWAY_FIELDS + EXTENSIONS, "")
    values = {key: p.need(doc, key, str, "") for key in GATEWAY_FIELDS[:5]}
    p.one_of(values["gateway_status"], STATUSES, "gateway_status")
    ip = values["gateway_ip"]
    if ip is not None and ip != ip.strip():
        p.append("gateway_ip: has white space around it")
    ext = p.need(doc, "gateway_ext_data", dict, "")
    if ext is not None:
        p.unknown(ext, EXT_FIELDS, "gateway_ext_data.")
        for key, kind in EXT_FIELDS.items():
            if key == "sw_version" or key in ext:
                p.need(ext, key, kind, "gateway_ext_data.")
        mac = ext.get("gateway_mac")
        if isinstance(mac, str) and not MAC.fullmatch(mac):
            p.append(f"gateway_ext_data.gateway_mac: {mac!r} is not a lower-case MAC like e0:a5:09:00:0e:6d")
        usage = ext.get("memory_usage")
        if isinstance(usage, (int, float)) and not 0 <= usage <= 1:
            p.append(f"gateway_ext_data.memory_usage: {usage} is not a fraction from 0 to 1")
        cpu = ext.get("cpu_usage")
        if isinstance(cpu, (int, float)) and not 0 <= cpu <= 100:
            p.append(f"gateway_ext_data.cpu_usage: {cpu} is not a percentage from 0 to 100")
    for where, sub in _objects(p.need(doc, "sub_devices", list, ""), "sub_devices", p):
        p.unknown(sub, SUB_FIELDS, where + ".")
        got = {key: (p.need(sub, key, str, where + ".") if required or key in sub else None)
               for key, required in SUB_FIELDS.items()}
        p.one_of(got["ep_status"], STATUSES, f"{where}.ep_status")
        p.one_of(got["ep_type"], EP_TYPES, f"{where}.ep_type")
        if None not in (got["ep_id"], got["ep_ip"], values["dev_sno"]):
            expected = f"{values['dev_sno']}__{got['ep_ip']}"
            if got["ep_id"] != expected:
                p.append(f"{where}.ep_id: {got['ep_id']!r} is not dev_sno__ep_ip ({expected!r})")


def _media(doc: dict, p: _Problems) -> str:
    keys = [k for k in ("media_devices", "sub_devices") if k in doc]
    p.unknown(doc, ("mq_license_key", "media_devices", "sub_devices") + EXTENSIONS, "")
    p.need(doc, "mq_license_key", str, "")
    if len(keys) != 1:
        p.append("media_devices: missing" if not keys else
                 "sub_devices: given with media_devices; allowed: one list key")
        return "media_devices"
    key = keys[0]
    urls: dict[str, str] = {}  # URL -> where it first stood
    for where, item in _objects(p.need(doc, key, list, ""), key, p):
        p.unknown(item, MEDIA_FIELDS, where + ".")
        got = {field: p.need(item, field, str, where + ".") for field in MEDIA_FIELDS}
        p.one_of(got["media_device_status"], STATUSES, f"{where}.media_device_status")
        p.one_of(got["media_device_type"], MEDIA_TYPES, f"{where}.media_device_type")
        url = got["media_device_url"]
        if url is not None:
            if url in urls:
                p.append(f"{where}.media_device_url: same as {urls[url]}; URLs are unique")
            urls.setdefault(url, where)
    return key


def check(doc: object) -> tuple[str, list[str]]:
    """('gateway' | 'media' | '?', problems)."""
    if not isinstance(doc, dict):
        return "?", [f"(document): is a {_type_name(doc)}, not an object"]
    problems = _Problems()
    if "mq_license_key" in doc or "media_devices" in doc:
        _media(doc, problems)
        return "media", list(problems)
    if "dev_sno" in doc or "gateway_ext_data" in doc or "gateway_ip" in doc:
        _gateway(doc, problems)
        return "gateway", list(problems)
    return "?", ["(document): neither a gateway report (dev_sno, gateway_ext_data, …) "
                 "nor a media report (mq_license_key, media_devices)"]
