"""`sereport receive --db postgresql://…` as real processes on a real PostgreSQL: two
receivers share the history, a restart keeps it, and a database that goes away makes
heartbeats 503 (said once, with the recovery)."""

from __future__ import annotations

import copy
import time

import requests

from pgpeer import PostgresPeer
from procs import wait_for
from test_receiver_http import start
from test_validate import GATEWAY


def post(proc, doc):
    return requests.post(f"http://127.0.0.1:{proc.port}/DeviceStatus", json=doc, timeout=10)


def get(proc, path):
    answer = requests.get(f"http://127.0.0.1:{proc.port}{path}", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def with_camera(status):
    doc = copy.deepcopy(GATEWAY)
    doc["sub_devices"][0]["ep_status"] = status
    return doc


def test_two_receivers_share_one_history(tmp_path, pg_db):
    a = start(tmp_path, "--db", pg_db, name="a")
    b = start(tmp_path, "--db", pg_db, name="b")
    try:
        for i, status in enumerate(["online", "offline", "offline", "online", "online", "offline"]):
            assert post(a if i % 2 else b, with_camera(status)).status_code == 200
            time.sleep(0.2)
        box = get(a, "/boxes.json")["boxes"][0]
        assert get(b, "/boxes.json")["boxes"][0]["devices"] == box["devices"]
        seen_a = get(a, f"/boxes/{box['id']}/history")["changes"]
        assert seen_a == get(b, f"/boxes/{box['id']}/history")["changes"]
        assert [c["status"] for c in seen_a if c["device"]] == ["online", "offline", "online", "offline"]
        # Silence: both sweep, one records the box down.
        wait_for(lambda: get(b, "/boxes.json?status=down")["total"] == 1, timeout=10)
        time.sleep(1.5)
        downs = [c for c in get(a, f"/boxes/{box['id']}/history")["changes"] if c["status"] == "down"]
        assert len(downs) == 1
        # A restart of both keeps it all.
        assert a.terminate()[0] == 0 and b.terminate()[0] == 0
        c = start(tmp_path, "--db", pg_db, name="c")
        try:
            assert get(c, f"/boxes/{box['id']}/history")["changes"][-1]["status"] == "down"
            assert get(c, "/availability?days=1")["boxes"][0]["availability"] < 100
        finally:
            c.kill()
    finally:
        a.kill()
        b.kill()


def test_database_gone_is_503_said_once_then_recovered(tmp_path):
    server = PostgresPeer()
    proc = start(tmp_path, "--db", server.url)
    try:
        assert post(proc, GATEWAY).status_code == 200
        server.stop()
        answers = [post(proc, GATEWAY) for _ in range(3)]
        assert [a.status_code for a in answers] == [503] * 3
        assert answers[0].headers["Retry-After"] == "5" and answers[0].reason == "Service Unavailable"
        assert "database unreachable" in answers[0].json()["errors"][0]
        assert get_status(proc, "/boxes.json") == 503
        time.sleep(1.5)  # the sweeper fails too: still one line
        assert proc.log().count("unreachable") == 1, proc.log()
        assert "heartbeats are answered 503 until it is back" in proc.log()
        server.start()
        wait_for(lambda: post(proc, GATEWAY).status_code == 200, timeout=20, step=0.5)
        assert proc.log().count("reachable again after") == 1
        assert get(proc, "/boxes.json")["total"] == 1
        assert "sereport@" in proc.log() or "postgresql://" in proc.log()
    finally:
        proc.kill()
        server.close()


def get_status(proc, path):
    return requests.get(f"http://127.0.0.1:{proc.port}{path}", timeout=10).status_code


def without(module: str, *args: str):
    """`sereport receive ARGS` in an interpreter where `module` cannot be imported."""
    import subprocess
    import sys

    code = ("import sys, builtins; real = builtins.__import__\n"
            "def imp(name, *a, **k):\n"
            f"    if name == {module!r}: raise ImportError(name)\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = imp\n"
            "from sereport.cli import main; sys.exit(main())")
    return subprocess.run([sys.executable, "-c", code, "receive", "--port", "0", *args],
                          capture_output=True, text=True, timeout=30)


def test_postgres_without_psycopg_is_one_line(tmp_path):
    done = without("psycopg", "--db", "postgresql://u:secret@127.0.0.1:9/x")
    assert done.returncode == 1
    assert done.stderr.strip() == "sereport receive: PostgreSQL needs psycopg: pip install 'sereport[receiver]'"


def test_receive_without_jsonschema_is_one_line(tmp_path):
    done = without("jsonschema", "--db", str(tmp_path / "r.db"))
    assert done.returncode == 1
    assert done.stderr.strip() == "sereport receive: jsonschema is missing: pip install 'sereport[receiver]'"
