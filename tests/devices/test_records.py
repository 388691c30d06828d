from __future__ import annotations

import pytest

import uuid

from sereport.devices.records import infer_kind, ip_from_url, is_uuid, new_id, parse_device, stable_id


@pytest.mark.parametrize("url, kind", [
    ("rtsp://192.168.1.100:554/main/av_main", "rtsp"),
    ("RTSPS://cam.local/x", "rtsp"),
    ("gb28181://34020000001320000001@192.168.1.50:5060", "gb28181"),
    ("gb28281://34020000001320000001@192.168.1.50", "gb28181"),  # the vendor's typo
    ("/data/test.mp4", "file"),
    ("192.168.1.22", "photo"),
    ("192.168.1", None),
    ("data/test.mp4", None),
    ("http://x/y", None),
])
def test_infer_kind(url, kind):
    assert infer_kind(url) == kind


@pytest.mark.parametrize("url, kind, ip", [
    ("rtsp://admin:pw@192.168.1.100:554/x", "rtsp", "192.168.1.100"),
    ("gb28181://3402@192.168.1.50:5060", "gb28181", "192.168.1.50"),
    ("/data/test.mp4", "file", "127.0.0.1"),
    ("192.168.1.22", "photo", "192.168.1.22"),
])
def test_ip_from_url(url, kind, ip):
    assert ip_from_url(url, kind) == ip


def test_minimal_device_gets_inferred_fields():
    device, problems = parse_device({"url": "rtsp://192.168.1.100/ch1"}, "devices[0]")
    assert problems == []
    assert device.type == "rtsp" and device.ip == "192.168.1.100"
    assert device.ep_type == "2" and device.status == "offline"
    assert device.id == stable_id("rtsp://192.168.1.100/ch1")  # the same on every start
    assert (device.name, device.location, device.permission_id) == ("", "", "")


def test_photo_device_defaults_to_snapshot_camera():
    device, _ = parse_device({"url": "192.168.1.22"}, "d")
    assert (device.type, device.ep_type, device.ip) == ("photo", "1", "192.168.1.22")


def test_integer_ep_type_is_accepted_as_string():
    device, _ = parse_device({"url": "192.168.1.22", "ep_type": 4}, "d")
    assert device.ep_type == "4"


@pytest.mark.parametrize("raw, expected", [
    ({}, "d.url: missing"),
    ({"url": "ftp://x"}, "d.url: 'ftp://x' is not a device url: its scheme ftp:// is not one "
                         "sereport probes; allowed: rtsp://, rtsps://, gb28181://"),
    ({"url": "rtsp://1.2.3.4/", "type": "usb"}, "d.type: 'usb'; allowed: rtsp, gb28181, file, photo"),
    ({"url": "rtsp:///nohost", "type": "rtsp"}, "d.url: 'rtsp:///nohost': it names no host"),
    ({"url": "192.168.1.2", "ep_type": "9"}, "d.ep_type: '9' is not a device class"),
    ({"url": "192.168.1.2", "status": "up"}, "d.status: 'up'; allowed: online, offline"),
    ({"url": "192.168.1.2", "id": "cam-1"}, "d.id: 'cam-1' is not a UUID"),
    ({"url": "192.168.1.2", "name": ["a"]}, "d.name: ['a'] is not a string"),
    ({"url": "192.168.1.2", "colour": "red"}, "d.colour: unknown key"),
    ("rtsp://x", "d: str is not a mapping"),
])
def test_bad_devices_are_named(raw, expected):
    device, problems = parse_device(raw, "d")
    assert device is None
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected)


def test_password_never_in_problem():
    _, problems = parse_device({"url": "rtsp://admin:s3cret@/x"}, "d")
    assert problems and not any("s3cret" in p for p in problems)


@pytest.mark.parametrize("url", ["rtsp://192.168.1.100/ch1", "/data/test.mp4", "前门", ""])
def test_stable_id_is_the_standard_uuid5(url):
    assert stable_id(url) == str(uuid.uuid5(uuid.NAMESPACE_URL, url))


def test_new_id_is_a_random_uuid4():
    ids = {new_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(uuid.UUID(i).version == 4 and str(uuid.UUID(i)) == i for i in ids)


def test_is_uuid():
    assert is_uuid("95274d2c-0941-4d96-b032-ab200f81362c")
    assert not is_uuid("95274d2c0941-4d96-b032-ab200f81362c") and not is_uuid("cam-1")


@pytest.mark.parametrize("raw, expected", [
    ({"url": "rtsp://192.168.1.100:99999/x"},
     "d.url: 'rtsp://192.168.1.100:99999/x': its port is not a port; allowed: 1 to 65535"),
    ({"url": "rtsp://192.168.1.100:0/x"}, "d.url: 'rtsp://192.168.1.100:0/x': its port is 0"),
    ({"url": "\u00a2", "type": "photo"}, "d.url: '\u00a2': a photo device's url is its bare IPv4 address"),
    ({"url": "x.mp4", "type": "file"}, "d.url: 'x.mp4': a file device needs an absolute path"),
    ({"url": "http://192.168.1.100/x", "type": "rtsp"},
     "d.url: 'http://192.168.1.100/x': a rtsp device needs a rtsp:// or rtsps:// url"),
    ({"url": "rtsp://192.168.1.100/x", "ip": "not-an-ip"},
     "d.ip: 'not-an-ip' is not an IP address; allowed: e.g. 192.168.1.100 or fe80::1"),
    ({"url": "test.mp4"}, "d.url: 'test.mp4' is not a device url: a local file needs an absolute "
                          "path, e.g. /data/test.mp4; a camera needs rtsp:// or gb28181://"),
    ({"url": "192.168.1.100:554/ch1"},
     "d.url: '192.168.1.100:554/ch1' is not a device url: a camera needs its scheme: e.g. "
     "rtsp://192.168.1.100:554/ch1"),
    ({"url": "cam.local/ch1"}, "d.url: 'cam.local/ch1' is not a device url: a camera needs its "
                               "scheme: e.g. rtsp://cam.local/ch1"),
])
def test_bad_urls_and_ips_say_what_is_wrong(raw, expected):
    device, problems = parse_device(raw, "d")
    assert device is None and problems == [expected] or problems[0].startswith(expected), problems


def test_ipv6_devices_are_accepted():
    device, problems = parse_device({"url": "rtsp://[fe80::1]:554/x"}, "d")
    assert problems == [] and device.ip == "fe80::1"
    device, problems = parse_device({"url": "rtsp://cam.local/x", "ip": "::1"}, "d")
    assert problems == [] and device.ip == "::1"


def test_identity_ignores_credentials():
    from sereport.devices.records import identity

    assert identity("rtsp://admin:a@192.168.1.5/ch1") == identity("RTSP://admin:b@192.168.1.5/ch1")
    assert stable_id("rtsp://admin:a@192.168.1.5/ch1") == stable_id("rtsp://192.168.1.5/ch1")
    assert identity("rtsp://192.168.1.5/ch1") != identity("rtsp://192.168.1.5/ch2")


def test_hints_never_show_a_password():
    for url in ("admin:secret@192.168.1.100:554/ch1", "admin:secret@192.168.1.100/ch1"):
        _, problems = parse_device({"url": url}, "d")
        assert problems and not any("secret" in p for p in problems), problems
