from __future__ import annotations

import copy

import pytest

from sereport.receiver.validate import check

LICENCE = "ZKZCPI000120190807142601"
GATEWAY = {
    "gateway_ip": "192.168.1.251", "gateway_name": "bm1682landy93", "gateway_status": "online",
    "gateway_sn": "SZCCKQRAIJBAH0002", "dev_sno": LICENCE,
    "gateway_ext_data": {"sw_version": "V2R1C01\n", "sdk_version": "1.1.56d1e91",
                         "gateway_mac": "e0:a5:09:00:0e:6d", "cpu_usage": 6.5, "memory_size": 1.55,
                         "memory_usage": 0.77, "disk_size": 10.39, "disk_free_size": 9.41},
    "sub_devices": [{"ep_status": "online", "ep_location": "95274d2c-0941-4d96-b032-ab200f81362c",
                     "ep_url": "rtsp://192.168.1.101:554/ch2", "ep_type": "2", "ep_name": "",
                     "ep_id": f"{LICENCE}__192.168.1.101", "ep_ip": "192.168.1.101"}],
}
MEDIA = {"mq_license_key": LICENCE, "media_devices": [{
    "media_device_id": "2c1a6a12-ecf4-4490-a2fc-8d7a5023bfcd", "media_device_url": "rtsp://192.168.1.100:554/ch2",
    "media_device_ip": "192.168.1.100", "media_device_name": "前门设备", "media_device_status": "online",
    "media_device_type": "rtsp", "permission_id": "820737ae-a6d3-4322-bf7c-46f48066fb64"}]}


def test_seed_examples_are_valid():
    assert check(GATEWAY) == ("gateway", [])
    assert check(MEDIA) == ("media", [])
    as_example = {"mq_license_key": LICENCE, "sub_devices": MEDIA["media_devices"]}
    assert check(as_example) == ("media", [])


def test_seed_gateway_ip_with_a_stray_space_is_caught():
    doc = copy.deepcopy(GATEWAY)
    doc["gateway_ip"] = "192.168.1.251 "  # as in the vendor's example
    assert check(doc)[1] == ["gateway_ip: has white space around it"]


@pytest.mark.parametrize("change, problem", [
    (lambda d: d.pop("dev_sno"), "dev_sno: missing"),
    (lambda d: d.update(gateway_status="up"), "gateway_status: 'up' is not one of online, offline"),
    (lambda d: d["gateway_ext_data"].pop("sw_version"), "gateway_ext_data.sw_version: missing"),
    (lambda d: d["gateway_ext_data"].update(cpu_usage="6.5"), "gateway_ext_data.cpu_usage: is a string, not a number"),
    (lambda d: d["gateway_ext_data"].update(memory_usage=77), "gateway_ext_data.memory_usage: 77 is not a fraction from 0 to 1"),
    (lambda d: d["gateway_ext_data"].update(gateway_mac="E0:A5:09:00:0E:6D"), "gateway_ext_data.gateway_mac: 'E0:A5:09:00:0E:6D' is not a lower-case MAC"),
    (lambda d: d["sub_devices"][0].update(ep_type=2), "sub_devices[0].ep_type: is a number, not a string"),
    (lambda d: d["sub_devices"][0].update(ep_type="7"), "sub_devices[0].ep_type: '7' is not one of 0, 1, 2, 3, 4"),
    (lambda d: d["sub_devices"][0].update(ep_id="X__1.2.3.4"), "sub_devices[0].ep_id: 'X__1.2.3.4' is not dev_sno__ep_ip"),
    (lambda d: d["sub_devices"][0].pop("ep_location"), "sub_devices[0].ep_location: missing"),
    (lambda d: d.update(colour="red"), "colour: unknown field"),
    (lambda d: d.update(sub_devices={}), "sub_devices: is a object, not a list"),
])
def test_gateway_problems_name_the_field(change, problem):
    doc = copy.deepcopy(GATEWAY)
    change(doc)
    fmt, problems = check(doc)
    assert fmt == "gateway" and len(problems) == 1 and problems[0].startswith(problem), problems


@pytest.mark.parametrize("change, problem", [
    (lambda d: d["media_devices"][0].pop("permission_id"), "media_devices[0].permission_id: missing"),
    (lambda d: d["media_devices"][0].update(media_device_type="usb"), "media_devices[0].media_device_type: 'usb' is not one of"),
    (lambda d: d["media_devices"].append(dict(d["media_devices"][0])), "media_devices[1].media_device_url: same as media_devices[0]"),
    (lambda d: d.update(sub_devices=[]), "sub_devices: given with media_devices"),
])
def test_media_problems_name_the_field(change, problem):
    doc = copy.deepcopy(MEDIA)
    change(doc)
    fmt, problems = check(doc)
    assert fmt == "media" and len(problems) == 1 and problems[0].startswith(problem), problems


def test_extensions_allowed_and_optional_fields_optional():
    doc = copy.deepcopy(GATEWAY)
    doc.update(beat_seq=3, sent_at="2026-11-21T19:50:03.123Z")
    for key in ("sdk_version", "gateway_mac", "cpu_usage", "disk_size"):
        del doc["gateway_ext_data"][key]
    del doc["sub_devices"][0]["ep_url"]
    assert check(doc) == ("gateway", [])


def test_not_a_report():
    assert check([1])[0] == "?" and check({"a": 1})[0] == "?"


def test_non_objects_in_lists_are_named_and_indexes_stay_right():
    doc = copy.deepcopy(MEDIA)
    item = doc["media_devices"][0]
    doc["media_devices"] = ["junk", item, dict(item)]
    assert check(doc)[1] == ["media_devices[0]: is a string, not an object",
                             "media_devices[2].media_device_url: same as media_devices[1]; URLs are unique"]


def test_what_one_heartbeat_may_cost_is_bounded():
    doc = copy.deepcopy(GATEWAY)
    doc["sub_devices"] = [dict(doc["sub_devices"][0], ep_ip=f"10.0.{i // 250}.{i % 250}",
                               ep_id=f"{LICENCE}__10.0.{i // 250}.{i % 250}") for i in range(257)]
    assert check(doc)[1] == ["sub_devices: longer than 256"]
    doc = copy.deepcopy(GATEWAY)
    doc["gateway_name"] = "x" * 257
    doc["sub_devices"][0]["ep_url"] = "rtsp://" + "y" * 1024
    assert check(doc)[1] == ["gateway_name: longer than 256", "sub_devices[0].ep_url: longer than 1024"]


def test_the_schemas_are_valid_json_schemas():
    import jsonschema

    from sereport.receiver.validate import schema_path
    import json

    for fmt in ("gateway", "media"):
        with open(schema_path(fmt), encoding="utf-8") as handle:
            jsonschema.Draft202012Validator.check_schema(json.load(handle))
