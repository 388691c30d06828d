"""`sereport receive`'s HTTP, attacked over loopback in a real process: Expect:
100-continue, idle connections, bad framing, IPv6, HEAD, keep-alive."""

from __future__ import annotations

import json
import time

import pytest
import requests

import rawhttp
from peers import refused_port
from procs import Logged
from test_validate import GATEWAY

HOST = "127.0.0.1"


def start(tmp_path, *args: str, name: str = "receiver") -> Logged:
    port = refused_port()
    proc = Logged(tmp_path / name, "receive", "--port", str(port), *args)
    proc.wait_log("status page at")
    proc.port = port
    return proc


@pytest.fixture
def receiver(tmp_path):
    proc = start(tmp_path, "--idle-timeout", "2", "--json-log", str(tmp_path / "beats.jsonl"))
    yield proc
    proc.kill()


def test_expect_100_continue_is_answered_at_once(receiver, tmp_path):
    # Before (HTTP/1.0): no 100 Continue, so curl and the like waited 1 s before the body.
    body = json.dumps(GATEWAY).encode()
    with rawhttp.connect(HOST, receiver.port) as sock:
        started = time.monotonic()
        sock.sendall(rawhttp.request("POST", "/DeviceStatus", headers={
            "Expect": "100-continue", "Content-Length": str(len(body)),
            "Content-Type": "application/json"}))
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        assert time.monotonic() - started < 0.5
        sock.sendall(body)
        [(status, headers, answer)] = rawhttp.read_answers(sock)
    assert (status, json.loads(answer)) == (200, {"result": "ok", "format": "gateway"})
    assert headers["cache-control"] == "no-store"
    assert json.loads((tmp_path / "beats.jsonl").read_text())["valid"] is True


def test_idle_connections_are_closed(receiver):
    # Before: no timeout at all; a connection that said nothing was kept forever.
    quiet, spoke = rawhttp.connect(HOST, receiver.port), rawhttp.connect(HOST, receiver.port)
    try:
        spoke.sendall(rawhttp.request("GET", "/boxes.json"))
        took = rawhttp.closed_within(quiet, 5.0), rawhttp.closed_within(spoke, 1.0)
        assert took[0] is not None and 1.9 < took[0] < 3.5, took
        assert took[1] is not None  # closed too once quiet after its answer
    finally:
        quiet.close()
        spoke.close()


@pytest.mark.parametrize("length, status", [("-1", 400), ("2_5", 400), ("99999999", 413)])
def test_bad_content_length_is_answered_at_once(receiver, length, status):
    # Before: Content-Length: -1 hung the request thread (a read of everything to EOF).
    raw, closed, took = rawhttp.talk(HOST, receiver.port, rawhttp.request(
        "POST", "/DeviceStatus", headers={"Content-Length": length}))
    [(got, headers, body)] = rawhttp.answers(raw)
    assert (got, closed) == (status, True) and took < 1.0
    assert headers["content-type"] == "application/json; charset=utf-8"
    parsed = json.loads(body)
    assert parsed["result"] == "error" and parsed["errors"][0], parsed


def test_chunked_heartbeat_and_keep_alive(receiver):
    body = json.dumps(GATEWAY).encode()
    with rawhttp.connect(HOST, receiver.port) as sock:
        sock.sendall(rawhttp.request("POST", "/DeviceStatus", rawhttp.chunked(body, 100),
                                     {"Transfer-Encoding": "chunked"})
                     + rawhttp.request("HEAD", "/boxes.json")
                     + rawhttp.request("GET", "/boxes.json", headers={"Connection": "close"}))
        raw, closed = rawhttp.read_until_closed(sock, 5.0)
    # A HEAD answer has no body: split the three answers by hand.
    first, _, rest = raw.partition(b"HTTP/1.1 200 OK\r\n")[2].partition(b"HTTP/1.1 ")
    assert json.loads(first.split(b"\r\n\r\n", 1)[1]) == {"result": "ok", "format": "gateway"}
    head, _, last = rest.partition(b"\r\n\r\n")
    [(status, headers, boxes)] = rawhttp.answers(last)
    assert head.startswith(b"200 OK") and closed and status == 200
    assert b"Content-Length: %d" % len(boxes) in head  # HEAD: the GET's length, no body
    assert json.loads(boxes)["boxes"][0]["name"] == "bm1682landy93"


def test_other_methods_are_405(receiver):
    answer = requests.put(f"http://{HOST}:{receiver.port}/DeviceStatus", data=b"{}", timeout=5)
    assert answer.status_code == 405 and answer.headers["Allow"] == "GET, HEAD, POST"


def test_ipv6_host(tmp_path):
    # Before: --host ::1 failed (the server was IPv4 only).
    proc = start(tmp_path, "--host", "::1")
    try:
        assert f"heartbeats to http://[::1]:{proc.port}/DeviceStatus" in proc.log()
        answer = requests.post(f"http://[::1]:{proc.port}/DeviceStatus", json=GATEWAY, timeout=5)
        assert answer.status_code == 200
        page = requests.get(f"http://[::1]:{proc.port}/", timeout=5)
        assert page.status_code == 200 and "boxes.json" in page.text
        code, _ = proc.terminate()
        assert code == 0
        assert " ::1 /DeviceStatus gateway box=bm1682landy93" in proc.out_path.read_text()
    finally:
        proc.kill()


def test_port_taken_is_an_error(tmp_path):
    first = start(tmp_path, name="first")
    try:
        second = Logged(tmp_path / "second", "receive", "--port", str(first.port))
        assert second.proc.wait(10) == 1
        assert f"cannot listen on 127.0.0.1 port {first.port}: Address already in use" in second.log()
    finally:
        first.kill()


def test_deep_json_is_a_400(receiver):
    answer = requests.post(f"http://{HOST}:{receiver.port}/DeviceStatus",
                           data="[" * 5000 + "]" * 5000, timeout=10)
    assert answer.status_code == 400 and "nested deeper than 32 levels" in answer.text


def big_heartbeat(n: int) -> dict:
    """As large as the schema lets one box be: 256 devices with long names and URLs."""
    licence = f"BIG{n:06d}"
    return dict(GATEWAY, dev_sno=licence, gateway_name=f"box-{n:03d}", sub_devices=[
        {"ep_id": f"{licence}__10.0.{d // 250}.{d % 250}", "ep_ip": f"10.0.{d // 250}.{d % 250}",
         "ep_status": "online", "ep_location": "l" * 256, "ep_type": "2", "ep_name": "n" * 256,
         "ep_url": "rtsp://" + "u" * 1000} for d in range(256)])


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS")).split()[1]) / 1024


def test_what_a_fleet_of_large_boxes_costs_is_bounded(receiver):
    # Before (issue 13): 200 boxes of 1 MB heartbeats made /boxes.json 190 MiB and the
    # receiver kept every document in memory.
    base = f"http://127.0.0.1:{receiver.port}"
    session = requests.Session()
    body = None
    for n in range(200):
        body = json.dumps(big_heartbeat(n))
        answer = session.post(base + "/DeviceStatus", data=body, timeout=10)
        assert answer.status_code == 200, answer.text
    assert len(body) > 400_000
    page = session.get(base + "/boxes.json?devices=none", timeout=10)
    assert page.json()["total"] == 200 and len(page.content) < 200_000
    one = page.json()["boxes"][0]["id"]
    listed = session.get(base + f"/boxes.json?devices={one}", timeout=10).json()["boxes"]
    assert [len(b["devices"]) for b in listed[:2]] == [256, 0]
    assert rss_mib(receiver.proc.pid) < 100  # the documents are not kept
    assert session.get(base + "/boxes.json?devices=xyz", timeout=10).status_code == 400


def test_a_database_it_cannot_use_is_one_line(tmp_path):
    import sqlite3
    import stat

    db = tmp_path / "data" / "r.db"
    first = start(tmp_path, "--db", str(db), name="first")
    first.terminate()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600  # it holds licence codes
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    with sqlite3.connect(str(db)) as conn:
        conn.execute("UPDATE sereport_schema SET version = 7")
    newer = Logged(tmp_path / "newer", "receive", "--port", str(refused_port()), "--db", str(db))
    assert newer.proc.wait(10) == 1
    assert newer.log() == (f"sereport receive: database {db}: its schema is version 7; this sereport "
                           "knows versions 1 to 2: upgrade sereport\n")
    gone = Logged(tmp_path / "gone", "receive", "--port", str(refused_port()), "--db",
                  f"postgresql://sereport:S3CRET@/x?host={tmp_path}&port=1")
    assert gone.proc.wait(10) == 1
    [line] = gone.log().splitlines()
    assert line.startswith("sereport receive: database postgresql://sereport:***@/x?host=***&port=*** "
                           "unreachable: ") and "S3CRET" not in line
