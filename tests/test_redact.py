from __future__ import annotations

import pytest

from sereport.redact import redact_url, strip_credentials, without_userinfo


@pytest.mark.parametrize("url, shown", [
    ("rtsp://admin:pa:ss@192.168.1.100:554/x", "rtsp://admin:***@192.168.1.100:554/x"),
    ("rtsp://admin@192.168.1.100/x", "rtsp://admin@192.168.1.100/x"),
    ("http://p/DeviceStatus?token=abc&x=1", "http://p/DeviceStatus?token=***&x=***"),
    ("rtsp://u:p%40ss@[fe80::1]:554/x", "rtsp://u:***@[fe80::1]:554/x"),
    ("http://plain/x", "http://plain/x"),
    ("/data/test.mp4", "/data/test.mp4"),
    ("http://[::1", "***"),  # unparseable: masked whole
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_strip_credentials():
    assert strip_credentials("rtsp://a:b@10.0.0.1:554/ch?x=1") == "rtsp://10.0.0.1:554/ch?x=***"
    # A query value is a secret like a password (a camera's ?token=...): masked, key kept.
    assert strip_credentials("rtsp://10.0.0.1/ch?token=s3cr3t&channel=2") == \
        "rtsp://10.0.0.1/ch?token=***&channel=***"
    assert strip_credentials("rtsp://10.0.0.1/ch#frag") == "rtsp://10.0.0.1/ch"
    assert strip_credentials("rtsp://10.0.0.1/ch") == "rtsp://10.0.0.1/ch"
    assert strip_credentials("192.168.1.22") == "192.168.1.22"


def test_without_userinfo_keeps_the_query_a_camera_needs():
    assert without_userinfo("rtsp://a:b@10.0.0.1/ch?token=s3") == "rtsp://10.0.0.1/ch?token=s3"
    assert without_userinfo("rtsp://10.0.0.1/ch?token=s3") == "rtsp://10.0.0.1/ch?token=s3"


def test_credentials_without_a_scheme_are_masked():
    assert redact_url("admin:secret@192.168.1.100:554/ch1") == "***@192.168.1.100:554/ch1"
    assert "secret" not in redact_url("admin:secret@cam/ch1")
