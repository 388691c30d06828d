"""Checking a heartbeat against the JSON Schemas shipped in ``schemas/``.

``check(doc)`` names the format and lists every problem as "path: problem",
e.g. ``sub_devices[2].ep_type: '7' is not one of 0, 1, 2, 3, 4``.  The
checking is ``jsonschema``'s (draft 2020-12) against
``schemas/gateway.schema.json`` and ``schemas/media.schema.json``, the same
files platform developers can use; this module only words jsonschema's errors
by field path, and adds the two rules a schema cannot say: an ``ep_id`` is
``dev_sno__ep_ip``, and a media list's URLs are unique.  sereport's optional
extension fields are in the schemas; any other field is a problem.
"""

from __future__ import annotations

import json
import os

try:
    import jsonschema
except ImportError:  # an install without the receiver's extra
    jsonschema = None

SCHEMAS = os.path.join(os.path.dirname(__file__), "schemas")
TYPE_NAMES = {"object": "object", "array": "list", "string": "string", "number": "number",
              "integer": "whole number", "boolean": "boolean"}
_validators: dict = {}


class MissingDependency(RuntimeError):
    pass


def schema_path(fmt: str) -> str:
    return os.path.join(SCHEMAS, f"{fmt}.schema.json")


def _validator(fmt: str):
    if jsonschema is None:
        raise MissingDependency("jsonschema is missing: pip install 'sereport[receiver]'")
    if fmt not in _validators:
        with open(schema_path(fmt), encoding="utf-8") as handle:
            schema = json.load(handle)
        _validators[fmt] = jsonschema.Draft202012Validator(schema)
    return _validators[fmt]


def load() -> None:
    """Load both schemas now (MissingDependency without jsonschema), not at the first beat."""
    _validator("gateway")
    _validator("media")


def _type_name(value) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def _where(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _words(error) -> list[str]:
    """jsonschema's error, worded as sereport's "path: problem" lines."""
    where, kind, value = _where(error.absolute_path), error.validator, error.instance
    rule = error.schema if isinstance(error.schema, dict) else {}
    if kind == "required":
        return [f"{_join(where, key)}: missing" for key in error.validator_value
                if isinstance(value, dict) and key not in value][:1] or [f"{where}: {error.message}"]
    if kind == "additionalProperties":
        known = rule.get("properties", {})
        return [f"{_join(where, key)}: unknown field" for key in value if key not in known]
    if kind == "oneOf" and isinstance(value, dict):  # the media list under one key of two
        if "media_devices" in value and "sub_devices" in value:
            return ["sub_devices: given with media_devices; allowed: one list key"]
        return ["media_devices: missing"]
    where = where or "(document)"
    if kind == "type":
        wanted = TYPE_NAMES.get(error.validator_value, error.validator_value)
        article = "an" if wanted[0] in "aeiou" else "a"
        return [f"{where}: is a {_type_name(value)}, not {article} {wanted}"]
    if kind == "enum":
        return [f"{where}: {value!r} is not one of {', '.join(map(str, error.validator_value))}"]
    if "x-message" in rule:
        return [f"{where}: " + rule["x-message"].format(value=json.dumps(value, ensure_ascii=False)
                                                        if not isinstance(value, str) else repr(value))]
    if kind in ("maxLength", "maxItems"):
        return [f"{where}: longer than {error.validator_value}"]
    return [f"{where}: {error.message}"]


def _order(error) -> tuple:
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in error.absolute_path)


def _beyond_schema(fmt: str, doc: dict) -> list[str]:
    problems = []
    if fmt == "gateway":
        sno = doc.get("dev_sno")
        for i, sub in enumerate(doc.get("sub_devices") or []):
            if isinstance(sub, dict) and isinstance(sno, str) and isinstance(sub.get("ep_id"), str) \
                    and isinstance(sub.get("ep_ip"), str) and sub["ep_id"] != f"{sno}__{sub['ep_ip']}":
                problems.append(f"sub_devices[{i}].ep_id: {sub['ep_id']!r} is not dev_sno__ep_ip "
                                f"({sno + '__' + sub['ep_ip']!r})")
        return problems
    for key in ("media_devices", "sub_devices"):
        items = doc.get(key)
        urls: dict = {}
        for i, item in enumerate(items if isinstance(items, list) else []):
            url = item.get("media_device_url") if isinstance(item, dict) else None
            if isinstance(url, str):
                if url in urls:
                    problems.append(f"{key}[{i}].media_device_url: same as {key}[{urls[url]}]; "
                                    "URLs are unique")
                urls.setdefault(url, i)
    return problems


def detect(doc: dict) -> str:
    if "mq_license_key" in doc or "media_devices" in doc:
        return "media"
    if "dev_sno" in doc or "gateway_ext_data" in doc or "gateway_ip" in doc:
        return "gateway"
    return "?"


def check(doc: object) -> tuple[str, list[str]]:
    """('gateway' | 'media' | '?', problems)."""
    if not isinstance(doc, dict):
        return "?", [f"(document): is a {_type_name(doc)}, not an object"]
    fmt = detect(doc)
    if fmt == "?":
        return "?", ["(document): neither a gateway report (dev_sno, gateway_ext_data, …) "
                     "nor a media report (mq_license_key, media_devices)"]
    errors = sorted(_validator(fmt).iter_errors(doc), key=_order)
    mistyped = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    problems = []
    for error in errors:  # a value of the wrong type: that alone, not also its enum or range
        if error.validator == "type" or tuple(error.absolute_path) not in mistyped:
            problems.extend(_words(error))
    return fmt, problems + _beyond_schema(fmt, doc)
