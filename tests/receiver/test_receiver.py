from __future__ import annotations

import copy
import io
import json
import threading
import time

import pytest
import requests

from sereport.receiver.queries import mask
from sereport.receiver.server import Receiver, summary
from sereport.receiver.service import listen, sweeper
from sereport.receiver.store import Store
from test_validate import GATEWAY, MEDIA


@pytest.fixture
def receiver(tmp_path):
    store = Store(str(tmp_path / "receiver.db"), say=lambda line: None)
    store.open()
    made = Receiver(store, out=io.StringIO(), json_log=str(tmp_path / "beats.jsonl"))
    server = listen(made, "127.0.0.1", 0)
    server.start()
    stop = threading.Event()
    sweeping = threading.Thread(target=sweeper, args=(store, None, 3, 30, stop), daemon=True)
    sweeping.start()
    made.base = f"http://127.0.0.1:{server.port}"
    yield made
    stop.set()
    server.stop()
    sweeping.join()
    store.close()


def boxes(receiver, query=""):
    return requests.get(receiver.base + "/boxes.json" + query, timeout=5).json()["boxes"]


def post(receiver, doc, path="/DeviceStatus"):
    return requests.post(receiver.base + path, json=doc, timeout=5)


def test_valid_gateway_heartbeat_is_printed_logged_and_kept(receiver, tmp_path):
    answer = post(receiver, GATEWAY)
    assert answer.status_code == 200 and answer.json() == {"result": "ok", "format": "gateway"}
    line = receiver.out.getvalue()
    assert "gateway box=bm1682landy93 sn=SZCCKQRAIJBAH0002 ip=192.168.1.251 status=online devices 1/1 online" in line
    assert "ZKZCPI000120190807142601" not in line
    entry = json.loads((tmp_path / "beats.jsonl").read_text())
    assert entry["body"] == GATEWAY and entry["valid"] and entry["format"] == "gateway"
    [box] = boxes(receiver)
    assert (box["box"], box["name"], box["online"], box["total"], box["status"]) == (
        "ZKZC…2601", "bm1682landy93", 1, 1, "online")
    assert box["vitals"]["cpu_usage"] == 6.5 and box["devices"][0]["status"] == "online"


@pytest.mark.parametrize("key", ["media_devices", "sub_devices"])
def test_media_heartbeat_either_list_key_any_path(receiver, key):
    doc = {"mq_license_key": MEDIA["mq_license_key"], key: MEDIA["media_devices"]}
    assert post(receiver, doc, "/any/path").status_code == 200
    assert "/any/path media box=ZKZC…2601 devices 1/1 online" in receiver.out.getvalue()


def test_both_formats_of_one_box_make_one_row(receiver):
    post(receiver, GATEWAY)
    post(receiver, MEDIA)
    [box] = boxes(receiver)
    assert box["formats"] == ["gateway", "media"]
    assert [d["name"] for d in box["devices"]] == ["前门设备"]  # the media report's devices


def test_invalid_heartbeat_is_400_with_field_paths(receiver, tmp_path):
    doc = copy.deepcopy(GATEWAY)
    doc["sub_devices"][0]["ep_type"] = 2
    del doc["gateway_ext_data"]["sw_version"]
    answer = post(receiver, doc)
    assert answer.status_code == 400
    assert answer.json() == {"result": "invalid", "format": "gateway", "errors": [
        "gateway_ext_data.sw_version: missing",
        "sub_devices[0].ep_type: is a number, not a string"]}
    assert "INVALID gateway: gateway_ext_data.sw_version: missing; sub_devices[0].ep_type" in receiver.out.getvalue()
    assert boxes(receiver) == []  # not kept
    assert json.loads((tmp_path / "beats.jsonl").read_text())["valid"] is False


@pytest.mark.parametrize("body, error", [
    (b"{not json", "body is not JSON"),
    (b"[1, 2]", "(document): is a list, not an object"),
])
def test_bad_bodies_are_400(receiver, body, error):
    answer = requests.post(receiver.base + "/DeviceStatus", data=body, timeout=5)
    assert answer.status_code == 400 and error in answer.json()["errors"][0]


def test_late_then_down_after_three_intervals_and_back(receiver):
    post(receiver, GATEWAY)
    time.sleep(0.2)
    post(receiver, GATEWAY)  # an interval of about 0.2 s
    assert boxes(receiver)[0]["status"] == "online"
    time.sleep(0.4)  # more than 1.5 intervals, fewer than 3
    assert boxes(receiver)[0]["status"] == "late"
    time.sleep(1.6)  # the sweeper runs every second
    [box] = boxes(receiver)
    assert box["status"] == "down" and 0.1 < box["interval"] < 0.5
    assert boxes(receiver, "?status=down")[0]["id"] == box["id"]
    assert boxes(receiver, "?status=online") == []
    post(receiver, GATEWAY)
    history = requests.get(f"{receiver.base}/boxes/{box['id']}/history", timeout=5).json()
    assert [c["status"] for c in history["changes"] if c["device"] is None] == ["online", "down", "online"]


def test_status_page_and_unknown_paths(receiver):
    page = requests.get(receiver.base + "/", timeout=5)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "boxes.json" in page.text
    assert requests.get(receiver.base + "/nope", timeout=5).status_code == 404


def test_mask():
    assert mask("ZKZCPI000120190807142601") == "ZKZC…2601" and mask("short") == "***"


def test_summary_survives_odd_documents():
    assert "devices 0/0 online" in summary({})


def test_printed_lines_cannot_be_forged_and_hide_query_keys(tmp_path):
    import copy
    import io

    from sereport.receiver.server import Receiver
    from test_validate import GATEWAY

    out = io.StringIO()
    store = Store(str(tmp_path / "receiver.db"), say=lambda line: None)
    store.open()
    receiver = Receiver(store, out=out)
    doc = copy.deepcopy(GATEWAY)
    doc["gateway_name"] = "box\n2026-01-01 00:00:00 forged line\x1b[2J\x1b]0;title\x07"
    receiver.record("127.0.0.1", "/DeviceStatus?key=S3CRET", doc)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert "\\n2026-01-01" in lines[0] and "\\x1b[2J" in lines[0]
    assert "S3CRET" not in lines[0] and "/DeviceStatus?…" in lines[0]
