"""The local API over real loopback HTTP, every answer checked against openapi.yaml."""

from __future__ import annotations

import json
import threading

import pytest
import requests

from openapi_check import check_response, operations
from peers import Platform, refused_port
from procs import Logged, run, wait_for
from sereport import config
from sereport.service import api
from sereport.service.daemon import Daemon

LICENCE = "ZKZCPI000120190807142601"
HAND_WRITTEN = """# The operator's own words: they must survive every API change.
WEB_HEART_URL: {url}   # the platform
WEB_HEART_TIME: 1
dev_sno: {licence}
hmac_secret: s3cret-hmac
http_headers: {{Authorization: Bearer s3cret-token}}
devices:
  - {{url: "127.0.0.9", name: seeded, probe: none, status: online}}
{extra}"""


class Client:
    def __init__(self, base, token=None):
        self.base, self.token = base, token

    def call(self, method, path, body=None, raw=None, headers=None, check=True):
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        answer = requests.request(method, self.base + path, data=data, headers=headers, timeout=10)
        kind = answer.headers.get("Content-Type", "")
        parsed = answer.json() if kind.startswith("application/json") else answer.text
        if check:
            check_response(method, path, answer.status_code, kind, parsed)
        return answer.status_code, parsed, answer


@pytest.fixture
def platform():
    peer = Platform()
    yield peer
    peer.close()


@pytest.fixture
def box(write_config, platform):
    """An in-process daemon (the loops and the API in threads) and a client for its API."""
    made = []

    def start(extra="", token=None):
        path = write_config(HAND_WRITTEN.format(url=platform.url, licence=LICENCE, extra=extra))
        daemon = Daemon(config.load(path))
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        wait_for(lambda: daemon.api is not None)
        made.append((daemon, thread))
        # Changes need a token: the config's api_token, else the local one the daemon made
        # (as an operator with root would read it); tests of refusals clear it.
        token = token or daemon.view.change_token
        daemon.client = Client(f"http://127.0.0.1:{daemon.api.server_port}", token)
        daemon.path = path
        return daemon

    yield start
    for daemon, thread in made:
        daemon.stop.set()
        daemon.wake.set()
        thread.join(5)


def test_route_table_matches_openapi():
    assert {(m, p) for m, p in api.ROUTES} == operations()


def test_setconfigs_with_the_vendors_body(box, platform):
    other = Platform()
    try:
        daemon = box()
        client = daemon.client
        before = open(daemon.path, "rb").read()
        code, body, _ = client.call("POST", "/sophon/v2/face/setconfigs", {
            "config_dict": {"WEB_HEART_URL": other.url, "WEB_HEART_TIME": 5}})
        assert (code, body) == (200, {"result": "ok", "changed": ["WEB_HEART_TIME", "WEB_HEART_URL"]})
        wait_for(lambda: other.arrivals, 10)  # the next beat goes to the new URL
        code, values, _ = client.call("GET", "/sophon/v2/face/getconfigs")
        assert values["WEB_HEART_URL"] == other.url and values["WEB_HEART_TIME"] == 5
        assert open(daemon.path, "rb").read() == before  # comments, order: untouched
        overrides = open(daemon.cfg.overrides_path).read()
        assert "WEB_HEART_TIME: 5" in overrides and "# Set through sereport's local API" in overrides
    finally:
        other.close()


def test_getconfigs_flat_with_secrets_masked(box):
    client = box(extra="api_token: t0ken-value\n", token="t0ken-value").client
    code, values, _ = client.call("GET", "/sophon/v2/face/getconfigs")
    assert code == 200
    assert values["dev_sno"] == "***" and values["hmac_secret"] == "***" and values["api_token"] == "***"
    assert values["http_headers"] == {"Authorization": "***"}
    assert values["WEB_HEART_TIME"] == 1 and values["formats"] == ["gateway"]
    text = json.dumps(values)
    assert LICENCE not in text and "s3cret" not in text and "t0ken-value" not in text
    code, one, _ = client.call("POST", "/sophon/v2/face/getconfigs", {"config_name": "WEB_HEART_TIME"})
    assert (code, one) == (200, {"WEB_HEART_TIME": 1})
    code, alias, _ = client.call("POST", "/sophon/v2/face/getconfigs",
                                 {"config_name": "MEDIA_DEVICE_MONITOR_REPORT_PEROID"})
    assert alias == {"WEB_HEART_TIME": 1}
    code, body, _ = client.call("POST", "/sophon/v2/face/getconfigs", {"config_name": "NOPE"})
    assert code == 404 and body["error"] == "no config key 'NOPE'"
    code, body, _ = client.call("POST", "/sophon/v2/face/getconfigs", {"name": "x"})
    assert code == 400


def test_mixed_batch_changes_nothing_and_names_each_bad_key(box):
    daemon = box()
    client = daemon.client
    code, body, _ = client.call("POST", "/sophon/v2/face/setconfigs", {"config_dict": {
        "WEB_HEART_TIME": 3, "formats": "xml", "colour": "red", "state_dir": "/tmp"}})
    assert code == 400 and body["result"] == "error"
    assert set(body["errors"]) == {"state_dir"}  # refused before anything else is looked at
    code, body, _ = client.call("POST", "/sophon/v2/face/setconfigs", {"config_dict": {
        "WEB_HEART_TIME": 3, "formats": "xml", "colour": "red", "probe_timeout": "slow"}})
    assert code == 400
    assert body["errors"] == {
        "formats": "['xml'] is not allowed; allowed: gateway, media, both, or a list of gateway and media",
        "colour": "unknown key; see the README for the keys",
        "probe_timeout": "'slow' is not a number; allowed: seconds one probe may take, from 0.05 to 600"}
    assert body["error"] == "nothing changed: 3 bad key(s)"
    import os
    assert not os.path.exists(daemon.cfg.overrides_path)
    assert client.call("GET", "/sophon/v2/face/getconfigs")[1]["WEB_HEART_TIME"] == 1


def test_broken_overrides_file_is_a_400_naming_it(box):
    import os
    daemon = box()
    os.makedirs(daemon.cfg.state_dir, exist_ok=True)
    with open(daemon.cfg.overrides_path, "w") as handle:
        handle.write("WEB_HEART_TIME: [2\n")  # an operator's bad hand edit
    code, body, _ = daemon.client.call("POST", "/sophon/v2/face/setconfigs",
                                       {"config_dict": {"WEB_HEART_TIME": 3}})
    assert code == 400 and body["error"] == "nothing changed: 1 bad key(s)"
    [why] = body["errors"].values()
    assert why.startswith(daemon.cfg.overrides_path) and "not valid YAML" in why
    assert open(daemon.cfg.overrides_path).read() == "WEB_HEART_TIME: [2\n"


def test_null_removes_an_override(box):
    daemon = box()
    client = daemon.client
    client.call("POST", "/sophon/v2/face/setconfigs", {"config_dict": {"WEB_HEART_TIME": 2}})
    wait_for(lambda: daemon.cfg.interval == 2.0)
    client.call("POST", "/sophon/v2/face/setconfigs", {"config_dict": {"WEB_HEART_TIME": None}})
    wait_for(lambda: daemon.cfg.interval == 1.0)


@pytest.mark.parametrize("method, path, raw, code, reason", [
    ("POST", "/sophon/v2/face/setconfigs", b"{not json", 400, "body is not JSON"),
    ("POST", "/sophon/v2/face/setconfigs", b'{"config_dict": [1]}', 400, "config_dict must be an object"),
    ("POST", "/sophon/v2/face/setconfigs", b'{"config_dict": {}}', 400, "config_dict must be an object with at least one key"),
    ("POST", "/sophon/v2/face/setconfigs", b'{"config": {"a": 1}}', 400, 'the body must be {"config_dict"'),
    ("POST", "/sophon/v2/face/setconfigs", b'{"config_dict": {"WEB_HEART_TIME": "5"}}', 400, "nothing changed: 1 bad key(s)"),
    ("POST", "/sophon/v2/face/setconfigs", b'{"config_dict": {"x": "' + b"a" * 70000 + b'"}}', 413, "over the limit of 65536"),
    ("GET", "/sophon/v2/face/setconfigs", None, 405, "GET is not allowed on /sophon/v2/face/setconfigs; allowed: POST"),
    ("DELETE", "/devices", None, 405, "allowed: GET, POST"),
    ("POST", "/devices", b'{"url": "127.0.0.2", "colour": "red"}', 400, "device.colour: unknown key"),
    ("POST", "/devices", b'["127.0.0.2"]', 400, "the body must be a JSON object"),
])
def test_bad_input_is_4xx_and_changes_nothing(box, method, path, raw, code, reason):
    daemon = box()
    before = daemon.client.call("GET", "/sophon/v2/face/getconfigs")[1]
    devices = daemon.client.call("GET", "/devices")[1]
    status, body, answer = daemon.client.call(method, path, raw=raw)
    assert status == code and reason in body["error"], body
    if code == 405:
        assert answer.headers["Allow"]
    assert daemon.client.call("GET", "/sophon/v2/face/getconfigs")[1] == before
    assert daemon.client.call("GET", "/devices")[1] == devices


def test_unknown_path_is_404(box):
    client = box().client
    status, body, _ = client.call("GET", "/nowhere")
    assert status == 404 and body["error"] == "no such path /nowhere; see /openapi.yaml"


def test_token_enforced(box):
    daemon = box(extra="api_token: t0ken-value\n", token="t0ken-value")
    anonymous = Client(daemon.client.base)
    for token in (None, "wrong"):
        anonymous.token = token
        for method, path, body in (("GET", "/status", None), ("POST", "/sophon/v2/face/setconfigs",
                                                              {"config_dict": {"WEB_HEART_TIME": 9}})):
            code, answer, raw = anonymous.call(method, path, body)
            assert code == 401 and raw.headers["WWW-Authenticate"] == "Bearer"
    assert daemon.client.call("GET", "/sophon/v2/face/getconfigs")[1]["WEB_HEART_TIME"] == 1
    assert daemon.client.call("GET", "/status")[0] == 200


def test_devices(box):
    daemon = box()
    client = daemon.client
    code, added, _ = client.call("POST", "/devices", {"url": "rtsp://admin:pw@127.0.0.2:9/ch1",
                                                      "name": "door", "probe": "none", "status": "online"})
    assert code == 201 and added["url"] == "rtsp://admin:***@127.0.0.2:9/ch1"
    code, dup, _ = client.call("POST", "/devices", {"url": "rtsp://admin:pw@127.0.0.2:9/ch1"})
    assert code == 409 and f"already used by device {added['id']} door" in dup["error"]
    code, dup, _ = client.call("POST", "/devices", {"url": "127.0.0.9"})
    assert code == 409 and "seeded" in dup["error"] and daemon.path in dup["error"]
    code, listed, _ = client.call("GET", "/devices")
    assert [d["name"] for d in listed] == ["seeded", "door"]
    shown = wait_for(lambda: "last_probe" in (s := client.call("GET", f"/devices/{added['id']}")[1]) and s, 10)
    assert shown["last_probe"]["reason"] == "static" and shown["last_probe"]["status"] == "online"
    from urllib.parse import quote
    assert client.call("GET", "/devices/" + quote("127.0.0.9", safe=""))[1]["name"] == "seeded"
    code, gone, _ = client.call("DELETE", f"/devices/{added['id']}")
    assert (code, gone) == (200, {"result": "ok", "removed": added["id"]})
    code, body, _ = client.call("GET", f"/devices/{added['id']}")
    assert code == 404
    seeded = listed[0]["id"]
    code, body, _ = client.call("DELETE", f"/devices/{seeded}")
    assert code == 409 and "remove it there" in body["error"]


def test_status_and_metrics(box, platform):
    daemon = box()
    client = daemon.client
    wait_for(lambda: daemon.reporter.beats >= 2 and daemon.reporter.monitor.cycles >= 1, 10)
    code, status, _ = client.call("GET", "/status")
    assert status["beats"] >= 2 and status["version"] and status["uptime_seconds"] > 0
    [target] = status["targets"]
    assert target["url"] == platform.url and target["last_result"]["ok"] and target["missed_beats"] == 0
    assert status["devices"][0]["name"] == "seeded" and status["devices_online"] == 1
    code, text, answer = client.call("GET", "/metrics")
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert f'sereport_reports_total{{format="gateway",result="ok",target="{platform.url}"}}' in text
    assert 'sereport_devices{status="online"} 1' in text
    assert "# TYPE sereport_beats_total counter" in text
    assert "sereport_last_success_timestamp_seconds{" in text
    assert "sereport_probe_cycle_duration_seconds " in text
    for line in text.splitlines():  # every sample line is NAME{labels} VALUE
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])


def test_openapi_document_is_served(box):
    code, text, _ = box().client.call("GET", "/openapi.yaml")
    assert code == 200 and text.startswith("openapi: 3.0.3")


def test_non_loopback_without_token_refuses_to_start(write_config):
    path = write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: http://127.0.0.1:9/x\napi_host: 0.0.0.0\n")
    done = run("--config", path, "run")
    assert done.returncode == 78
    assert "api_host: '0.0.0.0' is not a loopback address and api_token is empty" in done.stderr


def test_change_survives_a_restart(write_config, platform, tmp_path):
    port = refused_port()
    path = write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: {platform.url}\nWEB_HEART_TIME: 1\n"
                        f"api_port: {port}\n")
    first = Logged(tmp_path / "first", "--config", path, "run")
    try:
        first.wait_log("local API on")
        token = (tmp_path / "state_dir" / "api-token").read_text().strip()  # as root reads it
        client = Client(f"http://127.0.0.1:{port}", token)
        assert client.call("POST", "/sophon/v2/face/setconfigs",
                           {"config_dict": {"WEB_HEART_TIME": 2, "formats": "both"}})[0] == 200
        first.wait_log("config reloaded (API)")
    finally:
        first.terminate()
    second = Logged(tmp_path / "second", "--config", path, "run")
    try:
        second.wait_log("local API on")
        values = client.call("GET", "/sophon/v2/face/getconfigs")[1]
        assert values["WEB_HEART_TIME"] == 2 and values["formats"] == ["gateway", "media"]
        assert "media report(s)" in second.log() or "gateway+media" in second.log()
    finally:
        second.terminate()


def test_an_anonymous_local_process_reads_but_cannot_change(box):
    """No api_token: reads stay open on loopback, a change needs the token the daemon keeps
    in <state_dir>/api-token (0600), so no unprivileged local process can steer it."""
    import os
    import stat as stat_module

    daemon = box()
    path = os.path.join(daemon.cfg.state_dir, "api-token")
    st = os.stat(path)
    assert stat_module.S_IMODE(st.st_mode) == 0o600
    assert open(path).read().strip() == daemon.view.change_token and len(daemon.view.change_token) >= 32
    anonymous = Client(daemon.client.base)
    for path_ in ("/status", "/metrics", "/devices", "/sophon/v2/face/getconfigs"):
        code, _, _ = anonymous.call("GET", path_)
        assert code == 200, path_
    attacks = [("POST", "/sophon/v2/face/setconfigs", {"config_dict": {"WEB_HEART_TIME": 9}}),
               ("POST", "/devices", {"url": "/etc/hostname"}),
               ("DELETE", "/devices/x", None)]
    for method, where, body in attacks:
        for token in (None, "wrong-token"):
            anonymous.token = token
            code, answer, response = anonymous.call(method, where, body)
            assert code == 401 and "a change needs the local token" in answer["error"], (where, answer)
            assert response.headers.get("WWW-Authenticate") == "Bearer"
    assert not os.path.exists(daemon.cfg.overrides_path)
    assert daemon.client.call("POST", "/devices", {"url": "/etc/hostname"})[0] == 201  # with it


def test_deep_json_and_passwords_in_paths(box, caplog):
    import logging as logging_module
    from urllib.parse import quote

    daemon = box()
    code, answer, _ = daemon.client.call("POST", "/sophon/v2/face/getconfigs",
                                         raw="[" * 5000 + "]" * 5000)
    assert code == 400 and "nested deeper than 32 levels" in answer["error"]
    with caplog.at_level(logging_module.DEBUG, logger="sereport.service.api"):
        for method in ("GET", "DELETE"):
            daemon.client.call(method, "/devices/" + quote("rtsp://admin:S3cret@127.0.0.9/x?token=T0k", safe=""))
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "/devices/" in said and "S3cret" not in said and "T0k" not in said
