"""Checking the local API's answers against sereport/service/openapi.yaml (the subset of
JSON Schema the document uses: type, required, properties, additionalProperties,
items, enum, nullable, minProperties, oneOf, $ref)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

SPEC = yaml.safe_load((Path(__file__).parent.parent / "sereport" / "service" / "openapi.yaml").read_text())
TYPES = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float),
         "boolean": bool}


def deref(node: dict) -> dict:
    while "$ref" in node:
        target = SPEC
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def problems(value, schema: dict, where: str = "$") -> list[str]:
    schema = deref(schema)
    if value is None:
        return [] if schema.get("nullable") else [f"{where}: null"]
    kind = schema.get("type")
    if kind:
        wanted = TYPES[kind]
        if isinstance(value, bool) and kind != "boolean" or not isinstance(value, wanted):
            return [f"{where}: {type(value).__name__}, not {kind}"]
    if "oneOf" in schema:
        fits = sum(not problems(value, choice, where) for choice in schema["oneOf"])
        if fits != 1:
            return [f"{where}: {value!r} fits {fits} of oneOf's {len(schema['oneOf'])} schemas"]
    found = []
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                found.append(f"{where}.{key}: missing")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                found += problems(item, props[key], f"{where}.{key}")
            elif extra is False:
                found.append(f"{where}.{key}: not allowed")
            elif isinstance(extra, dict):
                found += problems(item, extra, f"{where}.{key}")
        if len(value) < schema.get("minProperties", 0):
            found.append(f"{where}: fewer than {schema['minProperties']} properties")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += problems(item, schema["items"], f"{where}[{i}]")
    return found


def operation(method: str, path: str) -> tuple[str, dict | None] | None:
    """(template, operation or None when the path lacks the method), None for no path."""
    for template, item in SPEC["paths"].items():
        if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", template), path):
            return template, item.get(method.lower())
    return None


def check_response(method: str, path: str, status: int, content_type: str, body) -> None:
    """The answer is documented for this operation and matches its schema; a method the
    path does not have gets 405, a path not described gets 404, both with an Error."""
    found = operation(method, path.split("?")[0])
    if found is None or found[1] is None:
        expected = 404 if found is None else 405
        assert status == expected, f"{method} {path}: {status}, expected {expected}"
        wrong = problems(body, {"$ref": "#/components/schemas/Error"})
        assert not wrong, wrong
        return
    responses = found[1]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, not in openapi.yaml"
    response = deref(responses[str(status)])
    media = next(iter(response["content"]))
    assert content_type.split(";")[0] == media, (content_type, media)
    wrong = problems(body, response["content"][media]["schema"])
    assert not wrong, f"{method} {path} {status}: {wrong}"


def operations() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in SPEC["paths"].items()
            for method in item if method in ("get", "post", "delete", "put", "patch")}
