"""What a heartbeat changes in the history, and what silence changes.

``record`` takes one valid heartbeat into the database: the box's row (last
seen, learned interval, latest vitals), its devices, and a row in ``changes``
for every change of status.  ``sweep`` finds the boxes whose beats stopped:
no beat for ``grace`` of their own intervals makes a box ``down``.  Both
return the changes they recorded, for the alerts.  Only the process whose
statement made a change records it, so several receivers sharing one
PostgreSQL agree on the history and alert once.

Statuses: a box is ``online`` or ``offline`` as its own heartbeat says, and
``down`` when the receiver stops hearing from it; a device is ``online`` or
``offline``.  ``late`` (a beat overdue, within the grace) is shown, not stored.
"""

from __future__ import annotations

import hashlib
import json

DEFAULT_INTERVAL = 5.0  # seconds, until two beats of a box tell its own
MIN_INTERVAL = 0.05
LATE_AFTER = 1.5  # intervals without a beat: late (shown only)
VITALS = ("cpu_usage", "memory_usage", "memory_size", "disk_size", "disk_free_size", "tpu_usage",
          "vpu_usage", "jpu_usage", "chip_temp", "board_temp", "tpu_memory_size", "tpu_memory_usage",
          "uptime", "clock_synced", "sw_version", "sdk_version", "gateway_mac")


def short_id(*parts: str) -> str:
    """A stable id to name a box or device by in URLs and pages, without its licence code."""
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:16]


def licence_of(fmt: str, doc: dict) -> str:
    return doc["dev_sno"] if fmt == "gateway" else doc["mq_license_key"]


def devices_of(fmt: str, doc: dict) -> list[dict]:
    """The heartbeat's devices, each with a key unique within the box."""
    found, seen = [], {}
    if fmt == "gateway":
        items = [(d["ep_id"], d.get("ep_name", ""), d["ep_ip"], d["ep_type"], d.get("ep_url", ""),
                  d["ep_status"]) for d in doc["sub_devices"]]
    else:
        items = [(d["media_device_id"], d["media_device_name"], d["media_device_ip"],
                  d["media_device_type"], d["media_device_url"], d["media_device_status"])
                 for d in doc.get("media_devices", doc.get("sub_devices"))]
    for key, name, ip, kind, url, status in items:
        seen[key] = seen.get(key, 0) + 1  # several devices on one IP share an ep_id
        if seen[key] > 1:
            key = f"{key}#{seen[key]}"
        found.append({"key": key, "name": name, "ip": ip, "kind": kind, "url": url, "status": status})
    return found


def _change(tx, licence: str, key: str, at: float, status: str, previous: str | None,
            **about) -> dict:
    tx.run("INSERT INTO changes (licence, device_key, at, status, previous) VALUES (?, ?, ?, ?, ?)",
           (licence, key, at, status, previous))
    return dict(about, licence=licence, device_key=key, at=at, status=status, previous=previous)


def _interval(row, fmt: str, now: float) -> float | None:
    """The box's interval, learned from the gaps between its beats of one format: it halves
    at most per shorter gap (a burst of retries does not make a box 'fast') and grows by a
    quarter of a longer one (an outage does not make it 'slow')."""
    interval, status = row["beat_interval"], row["status"]
    last = row["last_gateway" if fmt == "gateway" else "last_media"]
    if last is None or status == "offline":  # after its own offline beat: a restart, not a gap
        return interval
    gap = max(now - last, MIN_INTERVAL)
    if interval is None:
        return gap
    if gap < interval:
        return max(gap, interval / 2)
    return 0.75 * interval + 0.25 * gap


BOX_COLUMNS = ("status", "last_gateway", "last_media", "beat_interval", "formats", "name",
               "muted_until", "box_id", "last_seen")


def record(tx, fmt: str, doc: dict, peer: str, now: float, for_update: str = "") -> list[dict]:
    """Take one valid heartbeat in; the changes it made."""
    licence = licence_of(fmt, doc)
    got = tx.one(f"SELECT {', '.join(BOX_COLUMNS)} FROM boxes WHERE licence = ?{for_update}",
                 (licence,))
    row = dict(zip(BOX_COLUMNS, got)) if got else None
    status = doc["gateway_status"] if fmt == "gateway" else "online"
    box = {"box_id": row["box_id"] if row else short_id(licence),
           "name": doc.get("gateway_name", row["name"] if row else ""),
           "muted_until": row["muted_until"] if row else None}
    changes = []
    formats = sorted(set((row["formats"].split(",") if row and row["formats"] else []) + [fmt]))
    fields = {"peer": peer, "formats": ",".join(formats), "last_seen": now,
              "last_" + fmt: now}
    if fmt == "gateway":
        ext = doc["gateway_ext_data"]
        fields.update(name=doc["gateway_name"], ip=doc["gateway_ip"], sn=doc["gateway_sn"],
                      vitals=json.dumps({k: ext[k] for k in VITALS if k in ext}), vitals_at=now)
    elif not row:
        fields["ip"] = peer
    if row is None:
        fields.update(licence=licence, box_id=box["box_id"], status=status, status_since=now,
                      first_seen=now)
        tx.run(f"INSERT INTO boxes ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))})",
               list(fields.values()))
        changes.append(_change(tx, licence, "", now, status, None, **box))
    else:
        fields["beat_interval"] = _interval(row, fmt, now)
        if status != row["status"]:
            fields.update(status=status, status_since=now)
            changes.append(_change(tx, licence, "", now, status, row["status"], **box))
        tx.run(f"UPDATE boxes SET {', '.join(k + ' = ?' for k in fields)} WHERE licence = ?",
               list(fields.values()) + [licence])
    # A box that sends both formats: its devices come from the media report (ids, names).
    if fmt == "media" or "media" not in formats:
        if fmt == "media" and row is not None and "media" not in (row["formats"] or ""):
            # the gateway's ep_ids named them till now: the same cameras, under the media ids
            tx.run("DELETE FROM devices WHERE licence = ?", (licence,))
            tx.run("DELETE FROM changes WHERE licence = ? AND device_key <> ''", (licence,))
        changes += _devices(tx, licence, devices_of(fmt, doc), now,
                            row["last_seen"] if row else now, box)
    online = tx.one("SELECT COUNT(*) FROM devices WHERE licence = ? AND present = 1 AND status = 'online'",
                    (licence,))[0]
    total = tx.one("SELECT COUNT(*) FROM devices WHERE licence = ? AND present = 1", (licence,))[0]
    tx.run("UPDATE boxes SET online = ?, total = ? WHERE licence = ?", (online, total, licence))
    return changes


DEVICE_COLUMNS = ("device_key", "name", "ip", "kind", "url", "status", "present", "muted_until")


def _devices(tx, licence: str, devices: list[dict], now: float, before: float, box: dict) -> list[dict]:
    known = {r[0]: dict(zip(DEVICE_COLUMNS, r)) for r in tx.all(
        f"SELECT {', '.join(DEVICE_COLUMNS)} FROM devices WHERE licence = ?", (licence,))}
    changes = []
    for dev in devices:
        old = known.pop(dev["key"], None)
        about = dict(box, device_name=dev["name"], device_ip=dev["ip"],
                     device_id=short_id(licence, dev["key"]),
                     device_muted_until=old["muted_until"] if old else None)
        if old is None:
            tx.run("INSERT INTO devices (licence, device_key, device_id, name, ip, kind, url, status, "
                   "status_since, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (licence, dev["key"], about["device_id"], dev["name"], dev["ip"], dev["kind"],
                    dev["url"], dev["status"], now, now, now))
            changes.append(_change(tx, licence, dev["key"], now, dev["status"], None, **about))
            continue
        if old["status"] != dev["status"]:
            tx.run("UPDATE devices SET status = ?, status_since = ? WHERE licence = ? AND device_key = ?",
                   (dev["status"], now, licence, dev["key"]))
            changes.append(_change(tx, licence, dev["key"], now, dev["status"], old["status"], **about))
        if any(old[k] != dev[k] for k in ("name", "ip", "kind", "url")) or not old["present"]:
            tx.run("UPDATE devices SET name = ?, ip = ?, kind = ?, url = ?, present = 1 "
                   "WHERE licence = ? AND device_key = ?",
                   (dev["name"], dev["ip"], dev["kind"], dev["url"], licence, dev["key"]))
    for key, old in known.items():  # no longer in the box's report: last seen at its last beat
        if old["present"]:
            tx.run("UPDATE devices SET present = 0, last_seen = ? WHERE licence = ? AND device_key = ?",
                   (before, licence, key))
    return changes


def sweep(tx, now: float, grace: float) -> list[dict]:
    """Boxes silent for ``grace`` of their intervals become down; the changes made."""
    rows = tx.all("SELECT licence, box_id, name, last_seen, beat_interval, muted_until FROM boxes "
                  "WHERE status = 'online' AND last_seen < ? - ? * COALESCE(beat_interval, ?)",
                  (now, grace, DEFAULT_INTERVAL))
    changes = []
    for licence, box_id, name, last_seen, interval, muted in rows:
        at = min(now, last_seen + grace * (interval or DEFAULT_INTERVAL))
        if tx.run("UPDATE boxes SET status = 'down', status_since = ? "
                  "WHERE licence = ? AND status = 'online' AND last_seen = ?",
                  (at, licence, last_seen)) == 1:
            changes.append(_change(tx, licence, "", at, "down", "online", box_id=box_id, name=name,
                                   muted_until=muted))
    return changes


def prune(tx, now: float, keep_days: float) -> int:
    return tx.run("DELETE FROM changes WHERE at < ?", (now - keep_days * 86400,))
