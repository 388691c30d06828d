"""Issue 14 (9, 15, 16) and issue 13 (11): bodies outside the schema, a state_dir the daemon
cannot write, a full disk; a real `sereport run` over loopback, every answer checked against
openapi.yaml."""

from __future__ import annotations

import json
import os

import pytest
import requests

import mounts
from openapi_check import SPEC, check_response
from peers import Platform, refused_port
from procs import Logged

LICENCE = "ZKZCPI000120190807142601"
SET = "/sophon/v2/face/setconfigs"
GET = "/sophon/v2/face/getconfigs"


class Box:
    def __init__(self, tmp, state: str):
        self.platform = Platform()
        self.port = refused_port()
        self.state = state
        self.path = tmp / "sereport.yaml"
        self.path.write_text(f"dev_sno: {LICENCE}\nWEB_HEART_URL: {self.platform.url}\n"
                             f"WEB_HEART_TIME: 1\napi_port: {self.port}\nstate_dir: {state}\n"
                             f"runtime_dir: {tmp}/run\noffline_beat_on_stop: false\n")
        self.proc = Logged(tmp / "daemon", "--config", str(self.path), "run")
        self.proc.wait_log("local API on")
        self.token = open(os.path.join(state, "api-token")).read().strip()

    def call(self, method: str, path: str, raw: bytes | None = None):
        answer = requests.request(method, f"http://127.0.0.1:{self.port}{path}", data=raw,
                                  headers={"Authorization": f"Bearer {self.token}",
                                           "Content-Type": "application/json"}, timeout=10)
        body = answer.json()
        check_response(method, path, answer.status_code, answer.headers["Content-Type"], body)
        return answer.status_code, body

    def close(self):
        self.proc.kill()
        self.platform.close()


@pytest.fixture
def box(tmp_path):
    made = []

    def start(state=None):
        made.append(Box(tmp_path, state or str(tmp_path / "state")))
        return made[-1]

    yield start
    for one in made:
        one.close()


def test_a_null_body_is_not_an_empty_one(box):
    b = box()
    assert b.call("POST", GET)[0] == 200  # no body: every key
    code, body = b.call("POST", GET, b"null")
    assert (code, body["error"]) == (400, 'the body must be {"config_name": NAME} or empty')
    assert b.call("POST", SET, b"null")[0] == 400
    assert b.call("POST", "/devices", b"null")[0] == 400


def test_an_empty_key_is_named_as_sent_and_no_file_is_blamed(box):
    b = box()
    code, body = b.call("POST", SET, json.dumps({"config_dict": {"": [], "WEB_HEART_TIME": 0}}).encode())
    assert code == 400
    assert body["errors"] == {
        "": "unknown key; see the README for the keys",
        "WEB_HEART_TIME": "0 is out of range; allowed: seconds between beats, from 0.1 to 86400"}
    assert "overrides.yaml" not in json.dumps(body)  # nothing was written
    assert not os.path.exists(os.path.join(b.state, "overrides.yaml"))


def test_a_bad_file_value_under_a_key_sent_is_named_in_its_file(box):
    b = box()
    b.path.write_text(b.path.read_text().replace("WEB_HEART_TIME: 1", "WEB_HEART_TIME: soon"))
    code, body = b.call("POST", SET, b'{"config_dict": {"WEB_HEART_TIME": 2}}')
    assert code == 400
    assert body["errors"] == {"WEB_HEART_TIME": f"{b.path}: WEB_HEART_TIME: 'soon' is not a "
                                                "number; allowed: seconds between beats, from "
                                                "0.1 to 86400"}


def test_an_empty_device_url_is_refused_as_the_schema_says(box):
    b = box()
    assert SPEC["components"]["schemas"]["NewDevice"]["properties"]["url"]["minLength"] == 1
    code, body = b.call("POST", "/devices", b'{"url": ""}')
    assert (code, body["error"]) == (400, "device.url: '' is empty; allowed: rtsp://..., "
                                          "gb28181://..., an absolute file path, or a bare "
                                          "IPv4 address")


def test_a_state_dir_the_daemon_cannot_write_is_a_503_naming_it(box, tmp_path):
    b = box()
    over = os.path.join(b.state, "overrides.yaml")
    with mounts.read_only(b.state):
        code, body = b.call("POST", SET, b'{"config_dict": {"WEB_HEART_TIME": 2}}')
        assert code == 503
        assert body["error"] == (f"{over}: cannot write: Read-only file system; nothing changed "
                                 "(the daemon's user needs to write state_dir: chown it to that "
                                 "user, or set state_dir in the config file)")
        code, body = b.call("POST", "/devices", b'{"url": "127.0.0.40"}')
        assert code == 503 and "devices.json" in body["error"]
        assert "Read-only file system" in body["error"]
    assert b.call("GET", GET)[1]["WEB_HEART_TIME"] == 1 and not os.path.exists(over)


def test_a_full_disk_is_a_507_one_line_and_changes_nothing(box, tmp_path):
    state = str(tmp_path / "tiny")
    with mounts.full_tmpfs(state) as fill:
        b = box(state)
        assert b.call("POST", SET, b'{"config_dict": {"probe_timeout": 2}}')[0] == 200
        over = os.path.join(state, "overrides.yaml")
        before = open(over).read()
        fill()
        code, body = b.call("POST", SET, b'{"config_dict": {"WEB_HEART_TIME": 2, "probe_timeout": 1}}')
        assert (code, body) == (507, {"result": "error", "error": (
            f"{over}: cannot write: No space left on device; nothing changed (free space "
            "there, then send it again)")})
        assert open(over).read() == before
        assert sorted(os.listdir(state)) == ["api-token", "filler", "overrides.yaml"]
        values = b.call("GET", GET)[1]
        assert (values["WEB_HEART_TIME"], values["probe_timeout"]) == (1, 2.0)
        code, body = b.call("POST", "/devices", b'{"url": "127.0.0.41"}')
        assert code == 507 and body["error"] == (f"{state}/devices.json: cannot write: No space "
                                                 "left on device; nothing changed")
        assert "internal error" not in b.proc.log()
        b.close()  # before the unmount
