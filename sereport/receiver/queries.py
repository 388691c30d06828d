"""What the receiver answers from its history: a page of boxes, a box's changes,
availability, flapping devices.  Every answer is bounded (pages of at most
``MAX_LIMIT`` rows), whatever the size of the fleet."""

from __future__ import annotations

import json
import time

from sereport.receiver.history import DEFAULT_INTERVAL, LATE_AFTER, short_id

MAX_LIMIT = 500
STATUSES = ("online", "late", "down", "offline")
TIMELINE_HOURS = 24


def iso(at: float | None) -> str | None:
    if at is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}Z"


def mask(secret: str) -> str:
    """A licence code shown so a person can tell boxes apart, not copy it."""
    return secret[:4] + "…" + secret[-4:] if len(secret) > 10 else "***"


# The status shown: an online box whose beat is overdue (within the grace) is late.
STATE = ("CASE WHEN status = 'online' AND last_seen < ? - ? * COALESCE(beat_interval, ?) "
         "THEN 'late' ELSE status END")
BOX_FIELDS = ("licence", "box_id", "name", "ip", "sn", "peer", "formats", "first_seen", "last_seen",
              "beat_interval", "vitals", "vitals_at", "online", "total", "status_since", "muted_until")


def _search(q: str) -> tuple[str, list]:
    if not q:
        return "", []
    like = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    where = ("(LOWER(name) LIKE ? ESCAPE '\\' OR LOWER(ip) LIKE ? ESCAPE '\\' "
             "OR LOWER(sn) LIKE ? ESCAPE '\\' OR box_id = ?)")
    return where, [like, like, like, q.lower()]


def boxes(tx, now: float, status: str | None = None, q: str = "", limit: int = 50,
          offset: int = 0, devices_of: set | None = None) -> dict:
    """A page of boxes, by name, with their last 24 h and their devices (of every box, or
    of the boxes whose ids ``devices_of`` holds: the rest have none listed)."""
    search, params = _search(q)
    state = [now, LATE_AFTER, DEFAULT_INTERVAL]
    inner = f"SELECT {', '.join(BOX_FIELDS)}, {STATE} AS state FROM boxes" + (
        f" WHERE {search}" if search else "")
    counts = dict.fromkeys(STATUSES, 0)
    counts.update(tx.all(f"SELECT state, COUNT(*) FROM ({inner}) b GROUP BY state", state + params))
    where, wanted = (" WHERE state = ?", [status]) if status else ("", [])
    rows = tx.all(f"SELECT * FROM ({inner}) b{where} ORDER BY name, box_id LIMIT ? OFFSET ?",
                  state + params + wanted + [limit, offset])
    page = [dict(zip(BOX_FIELDS + ("state",), row)) for row in rows]
    licences = [box["licence"] for box in page]
    listed = [box["licence"] for box in page if devices_of is None or box["box_id"] in devices_of]
    devices: dict[str, list] = {}
    since = now - TIMELINE_HOURS * 3600
    timelines: dict[str, list] = {}
    if listed:
        marks = ", ".join("?" * len(listed))
        for row in tx.all("SELECT licence, device_id, name, ip, kind, url, status, present, first_seen, "
                          f"last_seen, status_since, muted_until FROM devices WHERE licence IN ({marks}) "
                          "ORDER BY licence, name, device_key", listed):
            devices.setdefault(row[0], []).append(row[1:])
    if licences:
        marks = ", ".join("?" * len(licences))
        for licence, at, status_, previous in tx.all(
                "SELECT licence, at, status, previous FROM changes WHERE device_key = '' "
                f"AND at >= ? AND licence IN ({marks}) ORDER BY licence, at, id", [since] + licences):
            timelines.setdefault(licence, []).append((at, status_, previous))
    total = sum(counts.values()) if not status else counts.get(status, 0)
    return {"total": total, "offset": offset, "limit": limit, "counts": counts,
            "boxes": [_box(box, devices.get(box["licence"], []), timelines.get(box["licence"], []),
                           now, since) for box in page]}


def _box(box: dict, devices: list, changes: list, now: float, since: float) -> dict:
    interval = box["beat_interval"]
    return {
        "id": box["box_id"], "box": mask(box["licence"]), "name": box["name"], "ip": box["ip"],
        "sn": box["sn"], "peer": box["peer"], "status": box["state"],
        "status_since": iso(box["status_since"]), "formats": box["formats"].split(","),
        "first_seen": iso(box["first_seen"]), "last_seen": iso(box["last_seen"]),
        "age": round(now - box["last_seen"], 1),
        "interval": round(interval, 2) if interval else None,
        "online": box["online"], "total": box["total"],
        "vitals": json.loads(box["vitals"]) if box["vitals"] else {},
        "vitals_at": iso(box["vitals_at"]), "muted_until": iso(box["muted_until"]),
        "timeline": timeline(changes, box["state"] if box["state"] != "late" else "online",
                             max(since, box["first_seen"]), now),
        "devices": [{"id": d[0], "name": d[1], "ip": d[2], "type": d[3], "url": d[4],
                     "status": d[5], "present": bool(d[6]), "first_seen": iso(d[7]),
                     "last_seen": iso(box["last_seen"] if d[6] else d[8]),
                     "status_since": iso(d[9]), "muted_until": iso(d[10])} for d in devices],
    }


def timeline(changes: list, current: str, start: float, end: float) -> list[list]:
    """[[from, to, status], …] covering start..end, from the changes in it (at, status, previous)."""
    status = changes[0][2] if changes else current
    spans, at = [], start
    for when, new, _previous in changes:
        if when > at and status is not None:
            spans.append([iso(at), iso(when), status])
        at, status = max(at, when), new
    if end > at and status is not None:
        spans.append([iso(at), iso(end), status])
    return spans


def find_box(tx, ident: str):
    """(licence, box_id, name) of a box named by its id or its licence code, or None."""
    return tx.one("SELECT licence, box_id, name FROM boxes WHERE box_id = ? OR licence = ?",
                  (ident, ident))


def history(tx, licence: str, since: float, limit: int) -> dict:
    names = {key: (dev_id, name) for key, dev_id, name in tx.all(
        "SELECT device_key, device_id, name FROM devices WHERE licence = ?", (licence,))}
    rows = tx.all("SELECT device_key, at, status, previous FROM changes WHERE licence = ? AND at >= ? "
                  "ORDER BY at, id LIMIT ?", (licence, since, limit + 1))
    changes = [{"at": iso(at), "device": short_id(licence, key) if key else None,
                "device_name": names.get(key, (None, ""))[1] if key else None,
                "status": status, "previous": previous} for key, at, status, previous in rows[:limit]]
    return {"since": iso(since), "changes": changes, "truncated": len(rows) > limit}


def availability(tx, now: float, days: float, limit: int, offset: int) -> dict:
    """Per box and per device: the share of the known time (since first seen, within the
    window) spent online, in %."""
    since = now - days * 86400
    total = tx.one("SELECT COUNT(*) FROM boxes")[0]
    page = tx.all("SELECT licence, box_id, name, status, first_seen FROM boxes "
                  "ORDER BY name, box_id LIMIT ? OFFSET ?", (limit, offset))
    result = []
    for licence, box_id, name, status, first_seen in page:
        changes: dict[str, list] = {}
        for key, at, new, previous in tx.all(
                "SELECT device_key, at, status, previous FROM changes WHERE licence = ? AND at >= ? "
                "ORDER BY at, id", (licence, since)):
            changes.setdefault(key, []).append((at, new, previous))
        devices = []
        for dev_id, key, dev_name, dev_status, dev_first in tx.all(
                "SELECT device_id, device_key, name, status, first_seen FROM devices "
                "WHERE licence = ? ORDER BY name, device_key", (licence,)):
            devices.append({"id": dev_id, "name": dev_name, "availability": _share(
                changes.get(key, []), dev_status, max(since, dev_first), now)})
        result.append({"id": box_id, "box": mask(licence), "name": name,
                       "availability": _share(changes.get("", []), status, max(since, first_seen), now),
                       "devices": devices})
    return {"days": days, "since": iso(since), "total": total, "offset": offset, "limit": limit,
            "boxes": result}


def _share(changes: list, current: str, start: float, end: float) -> float | None:
    up = known = 0.0
    status, at = (changes[0][2] if changes else current), start
    for when, new, _previous in changes + [(end, None, None)]:
        if when > at and status is not None:
            known += when - at
            up += (when - at) if status == "online" else 0.0
        at, status = max(at, when), new
    return round(100.0 * up / known, 2) if known > 0 else None


def flapping(tx, now: float, hours: float, limit: int) -> dict:
    since = now - hours * 3600
    rows = tx.all(
        "SELECT c.licence, c.device_key, COUNT(*) AS n, MAX(d.device_id), MAX(d.name), MAX(d.ip), "
        "MAX(b.box_id), MAX(b.name) FROM changes c "
        "JOIN devices d ON d.licence = c.licence AND d.device_key = c.device_key "
        "JOIN boxes b ON b.licence = c.licence "
        "WHERE c.device_key <> '' AND c.at >= ? AND c.previous IS NOT NULL "
        "GROUP BY c.licence, c.device_key ORDER BY n DESC, c.licence, c.device_key LIMIT ?",
        (since, limit))
    return {"hours": hours, "since": iso(since), "devices": [
        {"box": box_id, "box_name": box_name, "box_licence": mask(licence), "device": dev_id,
         "name": name, "ip": ip, "changes": n}
        for licence, _key, n, dev_id, name, ip, box_id, box_name in rows]}


def mute(tx, licence: str, device: str | None, until: float | None) -> bool:
    """Mute (until a time) or unmute (None) a box or one of its devices; False if no such device."""
    if device is None:
        return tx.run("UPDATE boxes SET muted_until = ? WHERE licence = ?", (until, licence)) == 1
    return tx.run("UPDATE devices SET muted_until = ? WHERE licence = ? AND device_id = ?",
                  (until, licence, device)) == 1
