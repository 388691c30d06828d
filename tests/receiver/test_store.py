"""The history on both backends: a real SQLite file and a real PostgreSQL (tests start it)."""

from __future__ import annotations

import copy
import sqlite3

import pytest

from sereport.receiver import history, migrations, queries
from sereport.receiver.store import Store, StoreError
from test_validate import GATEWAY, LICENCE, MEDIA

T0 = 1_800_000_000.0


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    where = str(tmp_path / "r.db") if request.param == "sqlite" else request.getfixturevalue("pg_db")
    lines: list[str] = []
    made = Store(where, say=lines.append)
    made.open()
    made.lines = lines
    yield made
    made.close()


def beat(store, at, status="online", devices=("online",), fmt="gateway"):
    doc = copy.deepcopy(GATEWAY if fmt == "gateway" else MEDIA)
    if fmt == "gateway":
        doc["gateway_status"] = status
        doc["gateway_ext_data"].update(tpu_usage=35.0, chip_temp=51.5, clock_synced=True)
        doc["sub_devices"] = [dict(doc["sub_devices"][0], ep_ip=f"10.0.0.{i}", ep_id=f"{LICENCE}__10.0.0.{i}",
                                   ep_status=s, ep_name=f"cam{i}") for i, s in enumerate(devices)]
    with store.tx() as tx:
        return history.record(tx, fmt, doc, "127.0.0.1", at, store.for_update)


def sweep(store, at, grace=3.0):
    with store.tx() as tx:
        return history.sweep(tx, at, grace)


def page(store, at, **kwargs):
    with store.tx() as tx:
        return queries.boxes(tx, at, **kwargs)


def test_changes_first_and_last_seen_and_vitals(store):
    first = beat(store, T0, devices=("online", "offline"))
    assert [(c["device_key"] != "", c["status"], c["previous"]) for c in first] == [
        (False, "online", None), (True, "online", None), (True, "offline", None)]
    assert beat(store, T0 + 5, devices=("online", "offline")) == []  # nothing changed: nothing stored
    [change] = beat(store, T0 + 10, devices=("offline", "offline"))
    assert (change["device_name"], change["status"], change["previous"]) == ("cam0", "offline", "online")
    [box] = page(store, T0 + 10)["boxes"]
    assert box["first_seen"] == queries.iso(T0) and box["last_seen"] == queries.iso(T0 + 10)
    assert box["interval"] == 5.0 and (box["online"], box["total"]) == (0, 2)
    assert box["vitals"]["tpu_usage"] == 35.0 and box["vitals"]["chip_temp"] == 51.5
    assert box["vitals"]["clock_synced"] is True


def test_silence_makes_a_box_late_then_down_once_and_its_offline_beat_offline(store):
    beat(store, T0)
    beat(store, T0 + 5)
    assert page(store, T0 + 12)["boxes"][0]["status"] == "online"
    assert page(store, T0 + 13)["boxes"][0]["status"] == "late"  # over 1.5 intervals: shown only
    assert sweep(store, T0 + 14) == []
    [down] = sweep(store, T0 + 21)
    assert (down["status"], down["at"]) == ("down", T0 + 20)  # when 3 intervals had passed
    assert sweep(store, T0 + 30) == []  # once
    assert page(store, T0 + 30, status="down")["total"] == 1
    [back] = [c for c in beat(store, T0 + 40) if not c["device_key"]]
    assert (back["status"], back["previous"]) == ("online", "down")
    [off] = beat(store, T0 + 45, status="offline")
    assert off["status"] == "offline"
    assert sweep(store, T0 + 100) == []  # an offline box is not down
    counts = page(store, T0 + 100)["counts"]
    assert counts == {"online": 0, "late": 0, "down": 0, "offline": 1}


def test_history_availability_and_flapping(store):
    beat(store, T0, devices=("online", "online"))
    for i in range(1, 11):  # cam1 flaps every beat; cam0 is steady
        beat(store, T0 + 10 * i, devices=("online", "offline" if i % 2 else "online"))
    sweep(store, T0 + 200)  # down from T0 + 130 (3 intervals of 10 s after T0 + 100)
    with store.tx() as tx:
        box = queries.find_box(tx, LICENCE)
        answer = queries.history(tx, LICENCE, T0 + 95, 100)
        avail = queries.availability(tx, T0 + 200, 1, 10, 0)
        flaps = queries.flapping(tx, T0 + 200, 1, 10)
    with store.tx() as tx:
        assert queries.find_box(tx, box[1])[0] == LICENCE  # by id too
    assert [(c["device_name"], c["status"]) for c in answer["changes"]] == [
        ("cam1", "online"), (None, "down")]
    [row] = avail["boxes"]
    assert row["availability"] == 65.0  # online T0..T0+130 of T0..T0+200
    cams = {d["name"]: d["availability"] for d in row["devices"]}
    assert cams["cam0"] == 100.0 and cams["cam1"] == 75.0  # offline 5 x 10 s of 200 s
    assert [(d["name"], d["changes"]) for d in flaps["devices"]] == [("cam1", 10)]


def test_timeline_of_the_last_24h(store):
    beat(store, T0)
    sweep(store, T0 + 20)
    beat(store, T0 + 100)
    [box] = page(store, T0 + 200)["boxes"]
    assert box["timeline"] == [[queries.iso(T0), queries.iso(T0 + 15), "online"],
                               [queries.iso(T0 + 15), queries.iso(T0 + 100), "down"],
                               [queries.iso(T0 + 100), queries.iso(T0 + 200), "online"]]


def test_search_filter_and_pages(store):
    for n in range(30):
        doc = copy.deepcopy(GATEWAY)
        doc.update(dev_sno=f"L{n:04d}", gateway_name=f"gate_{n:02d}" if n % 2 else f"yard%{n:02d}",
                   sub_devices=[])
        with store.tx() as tx:
            history.record(tx, "gateway", doc, "127.0.0.1", T0 + n, store.for_update)
    got = page(store, T0 + 30, q="GATE_", limit=10, offset=10)
    assert got["total"] == 15 and [b["name"] for b in got["boxes"]] == [f"gate_{n:02d}" for n in range(21, 30, 2)]
    assert page(store, T0 + 30, q="%")["total"] == 15  # a literal %, not a wildcard
    assert page(store, T0 + 30, q="d%1")["total"] == 5


def test_media_after_gateway_takes_over_the_devices(store):
    beat(store, T0, devices=("online",))
    beat(store, T0 + 1, fmt="media")
    [box] = page(store, T0 + 2)["boxes"]
    assert [d["name"] for d in box["devices"]] == ["前门设备"] and box["formats"] == ["gateway", "media"]
    beat(store, T0 + 5, devices=("offline",))  # the gateway's list no longer counts
    assert page(store, T0 + 6)["boxes"][0]["online"] == 1


def test_prune_keeps_keep_days(store):
    beat(store, T0)
    beat(store, T0 + 10 * 86400, status="offline")
    with store.tx() as tx:
        assert history.prune(tx, T0 + 10 * 86400, 5) >= 1
        rows = queries.history(tx, LICENCE, 0, 100)["changes"]
    assert [c["status"] for c in rows] == ["offline"]


def test_restart_keeps_the_history(store):
    beat(store, T0)
    store.close()
    again = Store(store.dialect.path if store.dialect.name == "sqlite" else store.dialect.url)
    again.open()
    try:
        assert page(again, T0 + 1)["total"] == 1
    finally:
        again.close()


def _upgraded(where: str, backend: str) -> list[str]:
    """A database at schema version 1 with a box in it, opened by this sereport: what it said."""
    old = Store(where, say=print)
    with old.tx() as tx:
        migrations.migrate(tx, backend, upto=1)
        tx.run("INSERT INTO boxes (licence, box_id, status, status_since, first_seen, last_seen) "
               "VALUES ('L1', 'x', 'online', 1, 1, 1)")
    old.close()
    lines: list[str] = []
    new = Store(where, say=lines.append)
    new.open()
    with new.tx() as tx:
        assert tx.one("SELECT licence, muted_until FROM boxes") == ("L1", None)
    new.close()
    return lines


def test_an_older_postgresql_schema_is_upgraded(pg_db):
    lines = _upgraded(pg_db, "postgresql")
    assert [line.split(": schema ")[1] for line in lines] == [f"upgraded from version 1 to {migrations.LATEST}"]


def test_an_older_schema_is_upgraded_and_a_newer_refused(tmp_path):
    path = str(tmp_path / "old.db")
    lines = _upgraded(path, "sqlite")
    assert lines == [f"sereport receive: database {path}: schema upgraded from version 1 to {migrations.LATEST}"]
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE sereport_schema SET version = 99")
    with pytest.raises(StoreError) as refused:
        Store(path).open()
    assert str(refused.value) == (f"database {path}: its schema is version 99; this sereport knows "
                                  f"versions 1 to {migrations.LATEST}: upgrade sereport")


def test_a_box_first_seen_by_two_receivers_at_once_is_one_box(pg_db):
    # Two receivers take the first beats of a box at the same moment: the second insert
    # conflicts, and its retry finds the row the first made. (In SQLite a writer holds the
    # database from its first read, so there is no such race.)
    store, other = Store(pg_db), Store(pg_db)
    store.open()
    calls = []

    def work(tx):
        calls.append(1)
        if len(calls) == 1:  # the other receiver wins the race, between our read and our insert
            with other.tx() as theirs:
                history.record(theirs, "gateway", copy.deepcopy(GATEWAY), "10.0.0.1", T0,
                               other.for_update)
            tx.run("INSERT INTO boxes (licence, box_id, status, status_since, first_seen, last_seen) "
                   "VALUES (?, 'dup', 'online', 1, 1, 1)", (LICENCE,))
        return history.record(tx, "gateway", copy.deepcopy(GATEWAY), "10.0.0.2", T0 + 1,
                              store.for_update)

    try:
        assert store.retried(work) == [] and len(calls) == 2
        assert page(store, T0 + 2)["total"] == 1
    finally:
        other.close()
        store.close()
