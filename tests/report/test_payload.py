from __future__ import annotations

import json

import pytest

from sereport import config
from sereport.box.gateway import GatewayState
from sereport.report.payload import documents, gateway_document, media_document

LICENCE = "ZKZCPI000120190807142601"
DEVICES = f"""
dev_sno: {LICENCE}
devices:
  - id: 2c1a6a12-ecf4-4490-a2fc-8d7a5023bfcd
    name: 前门设备
    url: rtsp://admin:secret@192.168.1.101:554/ch2
    location: 95274d2c-0941-4d96-b032-ab200f81362c
    permission_id: 820737ae-a6d3-4322-bf7c-46f48066fb64
    ep_type: 2
    status: online
  - url: 192.168.1.22
  - url: /data/test.mp4
    type: file
  - url: gb28181://34020000001320000001@192.168.1.50:5060
"""
STATE = GatewayState(ip="192.168.1.251", name="bm1682landy93", sn="SZCCKQRAIJBAH0002",
                     dev_sno=LICENCE, ext={"sw_version": "V2R1C01\n", "cpu_usage": 6.5})


@pytest.fixture
def cfg(write_config):
    return config.load(write_config(DEVICES))


def pairs(cfg):
    return [(d, d.status) for d in cfg.devices]


def test_gateway_document_field_by_field(cfg):
    doc = gateway_document(cfg, STATE, pairs(cfg))
    assert list(doc) == ["gateway_ip", "gateway_name", "gateway_status", "gateway_sn",
                         "dev_sno", "gateway_ext_data", "sub_devices"]
    assert doc["gateway_ip"] == "192.168.1.251"
    assert doc["gateway_name"] == "bm1682landy93"
    assert doc["gateway_status"] == "online"
    assert doc["gateway_sn"] == "SZCCKQRAIJBAH0002"
    assert doc["dev_sno"] == LICENCE
    assert doc["gateway_ext_data"] == {"sw_version": "V2R1C01\n", "cpu_usage": 6.5}
    first = doc["sub_devices"][0]
    assert first == {
        "ep_id": f"{LICENCE}__192.168.1.101",
        "ep_name": "前门设备",
        "ep_ip": "192.168.1.101",
        "ep_status": "online",
        "ep_location": "95274d2c-0941-4d96-b032-ab200f81362c",
        "ep_type": "2",
        "ep_url": "rtsp://192.168.1.101:554/ch2",  # no credentials by default
    }
    photo, file, gb = doc["sub_devices"][1:]
    assert photo == {"ep_id": f"{LICENCE}__192.168.1.22", "ep_name": "", "ep_ip": "192.168.1.22",
                     "ep_status": "offline", "ep_location": "", "ep_type": "1"}  # no ep_url
    assert file["ep_url"] == "/data/test.mp4" and file["ep_ip"] == "127.0.0.1"
    assert gb["ep_ip"] == "192.168.1.50" and gb["ep_type"] == "2"
    for sub in doc["sub_devices"]:
        assert all(isinstance(v, str) for v in sub.values())


def test_media_document_field_by_field(cfg):
    doc = media_document(cfg, STATE, pairs(cfg))
    assert list(doc) == ["mq_license_key", "media_devices"]
    assert doc["mq_license_key"] == LICENCE
    assert doc["media_devices"][0] == {
        "media_device_id": "2c1a6a12-ecf4-4490-a2fc-8d7a5023bfcd",
        "media_device_name": "前门设备",
        "media_device_url": "rtsp://192.168.1.101:554/ch2",
        "media_device_ip": "192.168.1.101",
        "media_device_status": "online",
        "media_device_type": "rtsp",
        "permission_id": "820737ae-a6d3-4322-bf7c-46f48066fb64",
    }
    assert [d["media_device_type"] for d in doc["media_devices"]] == ["rtsp", "photo", "file", "gb28181"]
    for item in doc["media_devices"]:
        assert set(item) == {"media_device_id", "media_device_name", "media_device_url",
                             "media_device_ip", "media_device_status", "media_device_type",
                             "permission_id"}
        assert all(isinstance(v, str) for v in item.values())


def test_media_list_key_option(write_config):
    cfg = config.load(write_config(DEVICES + "media_list_key: sub_devices\n"))
    doc = media_document(cfg, STATE, pairs(cfg))
    assert list(doc) == ["mq_license_key", "sub_devices"] and len(doc["sub_devices"]) == 4


def test_credentials_sent_only_when_asked(write_config):
    cfg = config.load(write_config(DEVICES + "send_url_credentials: true\n"))
    assert gateway_document(cfg, STATE, pairs(cfg))["sub_devices"][0]["ep_url"] == \
        "rtsp://admin:secret@192.168.1.101:554/ch2"


def test_both_formats_from_one_snapshot(write_config):
    cfg = config.load(write_config(DEVICES + "formats: [media, gateway]\n"))
    docs = documents(cfg, STATE, iter(pairs(cfg)))  # an iterator is consumed once only
    assert [fmt for fmt, _ in docs] == ["media", "gateway"]
    assert len(docs[0][1]["media_devices"]) == len(docs[1][1]["sub_devices"]) == 4


def test_empty_device_list(write_config):
    cfg = config.load(write_config(f"dev_sno: {LICENCE}\nformats: both\n"))
    gateway, media = (doc for _, doc in documents(cfg, STATE, []))
    assert gateway["sub_devices"] == [] and media["media_devices"] == []
    json.dumps(gateway), json.dumps(media)


def test_query_values_travel_masked_unless_opted_in(write_config):
    text = (f"dev_sno: {LICENCE}\nformats: both\ndevices:\n"
            "  - url: rtsp://admin:pw@192.168.1.101/live?token=s3cr3t&channel=2\n")
    masked = "rtsp://192.168.1.101/live?token=***&channel=***"
    cfg = config.load(write_config(text))
    docs = dict(documents(cfg, STATE, pairs(cfg)))
    assert docs["gateway"]["sub_devices"][0]["ep_url"] == masked
    assert docs["media"]["media_devices"][0]["media_device_url"] == masked
    assert "s3cr3t" not in json.dumps(docs) and "pw@" not in json.dumps(docs)
    sent = config.load(write_config(text + "send_url_credentials: true\n", name="opt-in.yaml"))
    docs = dict(documents(sent, STATE, pairs(sent)))
    assert docs["gateway"]["sub_devices"][0]["ep_url"] == \
        "rtsp://admin:pw@192.168.1.101/live?token=s3cr3t&channel=2"
