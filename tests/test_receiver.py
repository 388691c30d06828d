import io
import json
import threading

import pytest
import requests

from sereport.receiver import Receiver, mask, summary


@pytest.fixture
def receiver(tmp_path):
    out = io.StringIO()
    server = Receiver(("127.0.0.1", 0), out=out, json_log=str(tmp_path / "beats.jsonl"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.base = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()
    server.server_close()


GATEWAY = {"gateway_ip": "192.168.1.251", "gateway_name": "box1", "gateway_status": "online",
           "gateway_sn": "SN1", "dev_sno": "ZKZCPI000120190807142601",
           "gateway_ext_data": {"sw_version": "v", "cpu_usage": 6.5},
           "sub_devices": [{"ep_status": "online"}, {"ep_status": "offline"}]}


def test_gateway_heartbeat_is_printed_and_logged(receiver, tmp_path):
    answer = requests.post(receiver.base + "/DeviceStatus", json=GATEWAY, timeout=5)
    assert answer.status_code == 200
    line = receiver.out.getvalue()
    assert "gateway box=box1 sn=SN1 ip=192.168.1.251 status=online devices 1/2 online cpu_usage=6.5" in line
    assert "ZKZCPI000120190807142601" not in line
    entry = json.loads((tmp_path / "beats.jsonl").read_text())
    assert entry["body"] == GATEWAY and entry["path"] == "/DeviceStatus"


@pytest.mark.parametrize("key", ["media_devices", "sub_devices"])
def test_media_heartbeat_either_list_key(receiver, key):
    doc = {"mq_license_key": "ZKZCPI000120190807142601",
           key: [{"media_device_status": "online"}]}
    assert requests.post(receiver.base + "/any/path", json=doc, timeout=5).status_code == 200
    assert "media box=ZKZC…2601 devices 1/1 online" in receiver.out.getvalue()


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]"])
def test_bad_bodies_are_400(receiver, body):
    answer = requests.post(receiver.base + "/DeviceStatus", data=body, timeout=5)
    assert answer.status_code == 400 and "error" in answer.json()
    assert receiver.out.getvalue() == ""


def test_mask():
    assert mask("ZKZCPI000120190807142601") == "ZKZC…2601" and mask("short") == "***"


def test_summary_survives_odd_documents():
    assert "devices 0/0 online" in summary({})
