"""Every answer of a real receiver matches sereport/receiver/openapi.yaml (its schemas are
JSON Schema 2020-12, as OpenAPI 3.1 says: checked with jsonschema), and every path there
is exercised here."""

from __future__ import annotations

import copy
import re
import time
from pathlib import Path

import jsonschema
import requests
import yaml

from test_receiver_http import start
from test_validate import GATEWAY, MEDIA

SPEC = yaml.safe_load((Path(__file__).parents[2] / "sereport" / "receiver" / "openapi.yaml").read_text())


def check(method: str, path: str, answer: requests.Response) -> None:
    bare = path.split("?")[0]
    template = next(t for t in SPEC["paths"] if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", t), bare)
                    or t == "/DeviceStatus" and method == "POST")
    responses = SPEC["paths"][template][method.lower()]["responses"]
    assert str(answer.status_code) in responses, (method, path, answer.status_code, answer.text)
    response = responses[str(answer.status_code)]
    if "$ref" in response:
        response = SPEC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    [(media, content)] = response["content"].items()
    assert answer.headers["Content-Type"].split(";")[0] == media
    if media.endswith("json"):
        jsonschema.Draft202012Validator(dict(SPEC, **content["schema"])).validate(answer.json())
    checked.add((method, template))


checked: set = set()


def test_every_answer_is_documented(tmp_path):
    proc = start(tmp_path)
    base = f"http://127.0.0.1:{proc.port}"
    try:
        def call(method, path, **kwargs):
            answer = requests.request(method, base + path, timeout=5, **kwargs)
            check(method, path, answer)
            return answer

        doc = copy.deepcopy(GATEWAY)
        doc["gateway_ext_data"].update(tpu_usage=12.0, uptime=3600, clock_synced=False)
        call("POST", "/DeviceStatus", json=doc)
        call("POST", "/DeviceStatus", json=MEDIA)
        call("POST", "/DeviceStatus", json={"dev_sno": 1})
        time.sleep(0.2)
        doc["sub_devices"][0]["ep_status"] = "offline"
        call("POST", "/x", json=doc)
        boxes = call("GET", "/boxes.json?limit=10&status=online&q=bm").json()
        box = boxes["boxes"][0]
        assert box["vitals"]["tpu_usage"] == 12.0
        assert call("GET", "/boxes.json?devices=none").json()["boxes"][0]["devices"] == []
        assert call("GET", f"/boxes.json?devices={box['id']}").json()["boxes"][0]["devices"]
        call("GET", "/boxes.json?limit=0")
        call("GET", "/boxes.json?status=gone")
        call("GET", f"/boxes/{box['id']}/history?since=2026-01-01T00:00:00Z")
        call("GET", f"/boxes/{box['id']}/history?since=yesterday")
        call("GET", "/boxes/nobox/history")
        call("GET", "/availability?days=7")
        call("GET", "/availability?days=0")
        call("GET", "/flapping?hours=24&limit=5")
        call("GET", "/flapping?hours=-1")
        call("PUT", f"/boxes/{box['id']}/mute", json={"hours": 1})
        call("PUT", f"/boxes/{box['id']}/mute", json={"hours": "x"})
        call("DELETE", f"/boxes/{box['id']}/mute")
        call("DELETE", "/boxes/nobox/mute")
        call("GET", "/")
        call("GET", "/openapi.yaml")
        schema = call("GET", "/schemas/gateway.schema.json").json()
        jsonschema.Draft202012Validator(schema).validate(GATEWAY)  # usable as it is served
        call("GET", "/schemas/media.schema.json")
        documented = {(m.upper(), p) for p, item in SPEC["paths"].items() for m in item}
        assert documented == checked
        assert requests.get(base + "/nope", timeout=5).status_code == 404
    finally:
        proc.kill()
