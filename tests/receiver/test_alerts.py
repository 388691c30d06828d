"""Alerts to real loopback webhooks: one that records, one that is down, one that hangs."""

from __future__ import annotations

import copy
import time

import requests

from peers import HangingServer, HttpSink, refused_port
from procs import Logged, wait_for
from test_receiver_http import start
from test_validate import GATEWAY, LICENCE


def beat(proc, cam="online", box="online"):
    doc = copy.deepcopy(GATEWAY)
    doc["gateway_status"] = box
    doc["sub_devices"][0]["ep_status"] = cam
    answer = requests.post(f"http://127.0.0.1:{proc.port}/DeviceStatus", json=doc, timeout=5)
    assert answer.status_code == 200
    return answer


def quiet(proc, seconds, **state):
    """Wait, beating the same state every 0.25 s (the box's interval)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        beat(proc, **state)
        time.sleep(0.25)


def events(sink):
    return [body for _t, _path, _headers, body in sink.received]


def test_events_debounced_muted_and_a_down_webhook_blocks_nothing(tmp_path):
    sink, hanging = HttpSink(), HangingServer()
    refused = f"http://127.0.0.1:{refused_port()}/hook?token=S3CRET"
    proc = start(tmp_path, "--alert-webhook", refused, "--alert-webhook", sink.url,
                 "--alert-webhook", f"http://127.0.0.1:{hanging.port}/", "--alert-min-gap", "2",
                 "--grace", "12")
    try:
        quiet(proc, 0.6)  # first seen online: no event
        started = time.monotonic()
        beat(proc, cam="offline")
        assert time.monotonic() - started < 1.0  # queued, not sent on the ingest path
        [first] = wait_for(lambda: events(sink), timeout=5)
        assert first["event"] == "device.offline" and first["previous"] == "online"
        assert first["box"] == {"id": first["box"]["id"], "name": "bm1682landy93", "licence": "ZKZC…2601"}
        assert first["device"]["ip"] == "192.168.1.101" and first["changes"] == 1
        assert LICENCE not in str(sink.received[0][3])
        for cam in ("online", "offline", "online", "offline", "online"):  # the camera flaps
            beat(proc, cam=cam)
            time.sleep(0.25)
        assert len(events(sink)) == 1  # held: one alert per gap
        quiet(proc, 1.5)
        second = events(sink)[1]
        assert (second["event"], second["changes"]) == ("device.online", 5)
        quiet(proc, 2.5)
        assert len(events(sink)) == 2  # nothing more to say

        # Muted: nothing; unmuted: the box's own offline beat and its recovery are events.
        box_id = first["box"]["id"]
        base = f"http://127.0.0.1:{proc.port}/boxes/{box_id}/mute"
        assert requests.put(base, json={"hours": 1, "device": first["device"]["id"]}, timeout=5).status_code == 200
        quiet(proc, 2.5, cam="offline")
        assert len(events(sink)) == 2
        assert requests.delete(base + "?device=" + first["device"]["id"], timeout=5).status_code == 200
        beat(proc, cam="offline", box="offline")
        wait_for(lambda: len(events(sink)) == 3, timeout=5)
        assert events(sink)[2]["event"] == "box.offline"
        time.sleep(2.1)
        quiet(proc, 0.5, cam="offline")
        wait_for(lambda: len(events(sink)) == 4, timeout=5)
        assert (events(sink)[3]["event"], events(sink)[3]["previous"]) == ("box.online", "offline")

        # Silence past the grace: the box is down, an event too.
        wait_for(lambda: len(events(sink)) == 5, timeout=30)
        assert events(sink)[4]["event"] == "box.down"
        log = proc.log()
        assert log.count("retrying") >= 1 and "S3CRET" not in log
        assert "hook?token=***: Connection refused; retrying" in log
    finally:
        proc.kill()
        sink.close()
        hanging.close()


def test_bad_mute_requests_are_400_naming_the_field(tmp_path):
    proc = start(tmp_path)
    try:
        beat(proc)
        box_id = requests.get(f"http://127.0.0.1:{proc.port}/boxes.json", timeout=5).json()["boxes"][0]["id"]
        base = f"http://127.0.0.1:{proc.port}/boxes/{box_id}/mute"
        assert "hours" in requests.put(base, json={"hours": "1"}, timeout=5).json()["error"]
        assert requests.put(base, json={"hours": 0}, timeout=5).status_code == 400
        answer = requests.put(base, json={"hours": 1, "device": "nope"}, timeout=5)
        assert answer.status_code == 404 and "device" in answer.json()["error"]
        assert requests.put(base.replace(box_id, "nobox"), json={"hours": 1}, timeout=5).status_code == 404
        assert requests.get(base, timeout=5).status_code == 405
        answer = requests.put(base, json={"hours": 2}, timeout=5).json()
        assert answer["result"] == "ok" and answer["device"] is None
        box = requests.get(f"http://127.0.0.1:{proc.port}/boxes.json", timeout=5).json()["boxes"][0]
        assert box["muted_until"] == answer["muted_until"]
    finally:
        proc.kill()


def test_who_may_mute(tmp_path):
    token = tmp_path / "token"
    token.write_text("T0KEN-abc\n")
    token.chmod(0o600)
    proc = start(tmp_path, "--token-file", str(token), name="with-token")
    try:
        beat(proc)
        box_id = requests.get(f"http://127.0.0.1:{proc.port}/boxes.json", timeout=5).json()["boxes"][0]["id"]
        url = f"http://127.0.0.1:{proc.port}/boxes/{box_id}/mute"
        assert requests.put(url, json={"hours": 1}, timeout=5).status_code == 401
        assert requests.put(url, json={"hours": 1}, timeout=5,
                            headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert requests.put(url, json={"hours": 1}, timeout=5,
                            headers={"Authorization": "Bearer T0KEN-abc"}).status_code == 200
        assert "T0KEN" not in proc.log()
    finally:
        proc.kill()
    (tmp_path / "empty").write_text("\n")
    bad = Logged(tmp_path / "bad", "receive", "--port", str(refused_port()), "--token-file",
                 str(tmp_path / "empty"))
    assert bad.proc.wait(10) == 2
    assert bad.log() == f"sereport receive: --token-file {tmp_path / 'empty'}: empty\n"


def test_without_a_token_mutes_come_from_loopback_only(tmp_path):
    import io

    from sereport.receiver.server import Receiver
    from sereport.receiver.store import Store

    store = Store(str(tmp_path / "r.db"), say=lambda line: None)
    store.open()
    app = Receiver(store, out=io.StringIO())
    answers = []
    environ = {"REQUEST_METHOD": "DELETE", "REQUEST_URI": "/boxes/x/mute", "QUERY_STRING": "",
               "REMOTE_ADDR": "192.0.2.7", "wsgi.input": io.BytesIO()}
    body = app(environ, lambda status, headers: answers.append(status))
    assert answers == ["403 Forbidden"]
    assert "--token-file" in body[0].decode()
    answers.clear()
    app(dict(environ, REMOTE_ADDR="127.0.0.1"), lambda status, headers: answers.append(status))
    assert answers[0].startswith("404")  # allowed: and there is no box x
    store.close()
