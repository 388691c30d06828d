"""The receiver's WSGI app: heartbeats in, history out.

A POST on any path (the vendor's is /DeviceStatus) is a heartbeat, in either
format and either media list key.  It is checked against the shipped JSON
Schemas, printed as one line, taken into the history (``history.record``)
and answered 200, or 400 with every problem by field path, or 503 while the
database is unreachable (so the box retries).  GETs answer from the history
(``queries``): the page at /, /boxes.json, /boxes/{id}/history, /availability,
/flapping, described in ``openapi.yaml``.  PUT and DELETE of
/boxes/{id}/mute mute alerts.  Served by waitress through ``sereport.httpd``
(see ``service.py``).
"""

from __future__ import annotations

import hmac
import json
import os
import sys
import threading
import time
from urllib.parse import unquote

from sereport import httpd, limits
from sereport.logs import escape
from sereport.receiver import history, params, queries
from sereport.receiver.alerts import Alerter
from sereport.receiver.store import Store, StoreDown
from sereport.receiver.validate import check, schema_path

HERE = os.path.dirname(__file__)
PAGE = os.path.join(HERE, "page.html")
OPENAPI = os.path.join(HERE, "openapi.yaml")
MAX_MUTE_BODY = 4096
MAX_MUTE_HOURS = 24 * 365


def summary(doc: dict) -> str:
    if "mq_license_key" in doc:
        items = doc.get("media_devices", doc.get("sub_devices")) or []
        online = sum(1 for d in items if isinstance(d, dict)
                     and d.get("media_device_status") == "online")
        return (f"media box={queries.mask(str(doc['mq_license_key']))} "
                f"devices {online}/{len(items)} online")
    items = doc.get("sub_devices") or []
    online = sum(1 for d in items if isinstance(d, dict) and d.get("ep_status") == "online")
    ext = doc.get("gateway_ext_data") or {}
    extras = " ".join(f"{k}={ext[k]}" for k in ("cpu_usage", "memory_usage", "disk_free_size")
                      if isinstance(ext, dict) and k in ext)
    return (f"gateway box={doc.get('gateway_name', '?')} sn={doc.get('gateway_sn', '?')} "
            f"ip={doc.get('gateway_ip', '?')} status={doc.get('gateway_status', '?')} "
            f"devices {online}/{len(items)} online {extras}").rstrip()


class Receiver:
    """The WSGI app over a store (and an alerter)."""

    def __init__(self, store: Store, alerter: Alerter | None = None, out=None,
                 json_log: str | None = None, grace: float = 3.0, token: str = ""):
        self.store, self.alerter, self.grace = store, alerter, grace
        self.token = token  # mutes need it when set; else they come from loopback only
        self.out = out or sys.stdout
        self.json_log = json_log
        self.lock = threading.Lock()  # one printed line, one log line at a time

    def record(self, peer: str, path: str, doc: object) -> tuple[str, list[str]]:
        """Check and print a heartbeat, and keep it if valid; StoreDown if it cannot be kept."""
        fmt, problems = check(doc)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        shown = path.split("?", 1)[0] + ("?…" if "?" in path else "")  # a query may hold a key
        if problems:
            line = f"{stamp} {peer} {shown} INVALID {fmt}: " + "; ".join(problems)
        else:
            line = f"{stamp} {peer} {shown} {summary(doc)}"
        changes = []
        try:
            if not problems:
                changes = self.store.retried(lambda tx: history.record(
                    tx, fmt, doc, peer, time.time(), self.store.for_update))
        finally:
            with self.lock:
                print(escape(line), file=self.out, flush=True)  # a name cannot forge or clear lines
                if self.json_log:
                    entry = {"received_at": time.time(), "peer": peer, "path": path, "format": fmt,
                             "valid": not problems, "problems": problems, "body": doc}
                    with open(self.json_log, "a", encoding="utf-8") as log:
                        log.write(json.dumps(entry, ensure_ascii=False) + "\n")
        if changes and self.alerter:
            self.alerter.submit(changes)
        return fmt, problems

    # --- HTTP -------------------------------------------------------------------

    def __call__(self, environ: dict, start_response) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("REQUEST_URI", environ.get("PATH_INFO", "/"))
        try:
            status, body, kind, extra = self.answer(method, path, environ)
        except StoreDown as exc:
            status, body, kind, extra = _json(503, {"result": "error", "errors": [
                f"database unreachable ({exc}); try again"]}, [("Retry-After", "5")])
        start_response(httpd.status_line(status),
                       [("Content-Type", kind), ("Content-Length", str(len(body))),
                        ("Cache-Control", "no-store")] + extra)
        return [] if method == "HEAD" else [body]

    def answer(self, method: str, path: str, environ: dict) -> tuple[int, bytes, str, list]:
        page, _, query = path.partition("?")
        parts = [unquote(p) for p in page.strip("/").split("/")] if page.strip("/") else []
        if method == "POST":
            return self._post(path, environ)
        if len(parts) == 3 and parts[0] == "boxes" and parts[2] == "mute":
            if method in ("PUT", "DELETE"):
                try:
                    return self._mute(method, parts[1], environ)
                except params.BadParam as exc:
                    return _json(400, {"result": "error", "error": str(exc)})
            return _json(405, {"result": "error", "error": f"{method} is not allowed here; PUT or DELETE mutes"},
                         [("Allow", "PUT, DELETE")])
        if method not in ("GET", "HEAD"):
            return _json(405, {"result": "error", "error": f"{method} is not allowed; heartbeats are POSTed, "
                                        "the status page is a GET of /"},
                         [("Allow", "GET, HEAD, POST")])
        try:
            return self._get(parts, query)
        except params.BadParam as exc:
            return _json(400, {"result": "error", "error": str(exc)})

    def _get(self, parts: list[str], query: str) -> tuple[int, bytes, str, list]:
        now = time.time()
        if not parts:
            return _file(PAGE, "text/html; charset=utf-8")
        if parts == ["openapi.yaml"]:
            return _file(OPENAPI, "application/yaml; charset=utf-8")
        if len(parts) == 2 and parts[0] == "schemas" and parts[1] in ("gateway.schema.json",
                                                                       "media.schema.json"):
            return _file(schema_path(parts[1].split(".")[0]), "application/schema+json")
        if parts == ["boxes.json"]:
            found = params.parse(query, ("status", "q", "limit", "offset", "devices"))
            status = params.choice(found, "status", queries.STATUSES)
            q = params.text(found, "q")
            limit = int(params.number(found, "limit", 50, 1, queries.MAX_LIMIT, whole=True))
            offset = int(params.number(found, "offset", 0, 0, 10**7, whole=True))
            devices_of = params.ids(found, "devices")
            with self.store.tx(write=False) as tx:
                return _json(200, queries.boxes(tx, now, status, q, limit, offset, devices_of))
        if len(parts) == 3 and parts[0] == "boxes" and parts[2] == "history":
            found = params.parse(query, ("since", "limit"))
            since = params.moment(found, "since", now - 86400, now)
            limit = int(params.number(found, "limit", 1000, 1, 10000, whole=True))
            with self.store.tx(write=False) as tx:
                box = queries.find_box(tx, parts[1])
                if box is None:
                    return _no_box()
                answer = queries.history(tx, box[0], since, limit)
            return _json(200, dict(answer, id=box[1], name=box[2], box=queries.mask(box[0])))
        if parts == ["availability"]:
            found = params.parse(query, ("days", "limit", "offset"))
            days = params.number(found, "days", 7, 0.01, 3660)
            limit = int(params.number(found, "limit", 100, 1, queries.MAX_LIMIT, whole=True))
            offset = int(params.number(found, "offset", 0, 0, 10**7, whole=True))
            with self.store.tx(write=False) as tx:
                return _json(200, queries.availability(tx, now, days, limit, offset))
        if parts == ["flapping"]:
            found = params.parse(query, ("hours", "limit"))
            hours = params.number(found, "hours", 24, 0.01, 24 * 3660)
            limit = int(params.number(found, "limit", 50, 1, queries.MAX_LIMIT, whole=True))
            with self.store.tx(write=False) as tx:
                return _json(200, queries.flapping(tx, now, hours, limit))
        shown = escape("/" + "/".join(parts))[:200]
        return _json(404, {"result": "error", "error": f"no page {shown}; the status page is /, heartbeats are POSTed"})

    def _post(self, path: str, environ: dict) -> tuple[int, bytes, str, list]:
        if "CONTENT_LENGTH" not in environ:  # set by waitress for a chunked body too
            return _json(411, {"result": "error", "errors": ["Content-Length missing"]})
        try:
            doc = limits.loads_json(environ["wsgi.input"].read())  # 32 levels at most
        except (ValueError, UnicodeDecodeError) as exc:
            return _json(400, {"result": "error", "errors": [f"body is not JSON: {exc}"]})
        fmt, problems = self.record(environ.get("REMOTE_ADDR", "?"), path, doc)
        if problems:
            return _json(400, {"result": "invalid", "format": fmt, "errors": problems})
        return _json(200, {"result": "ok", "format": fmt})

    def _allowed(self, environ: dict) -> tuple[int, str] | None:
        """Who may mute alerts: with a token, whoever sends it; without, loopback only."""
        if self.token:
            given = environ.get("HTTP_AUTHORIZATION", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                return 401, "a mute needs Authorization: Bearer TOKEN (the receiver's --token-file)"
            return None
        if environ.get("REMOTE_ADDR", "") not in ("127.0.0.1", "::1"):
            return 403, "a mute from another host needs the receiver started with --token-file"
        return None

    def _mute(self, method: str, ident: str, environ: dict) -> tuple[int, bytes, str, list]:
        refused = self._allowed(environ)
        if refused:
            return _json(refused[0], {"result": "error", "error": refused[1]})
        wanted: dict = {}
        if method == "PUT":
            length = environ.get("CONTENT_LENGTH") or "0"
            raw = environ["wsgi.input"].read(min(int(length), MAX_MUTE_BODY + 1)) if length.isdigit() else b""
            try:
                wanted = limits.loads_json(raw or b"{}", max_depth=2)
            except (ValueError, UnicodeDecodeError) as exc:
                return _json(400, {"result": "error", "error": f"body is not JSON: {exc}"})
            if len(raw) > MAX_MUTE_BODY or not isinstance(wanted, dict) or set(wanted) - {"hours", "device"}:
                return _json(400, {"result": "error", "error": 'the body is {"hours": H, "device": ID}: hours required, '
                                            "device to mute one device only"})
            hours = wanted.get("hours")
            if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 < hours <= MAX_MUTE_HOURS:
                return _json(400, {"result": "error", "error": f"hours: {hours!r} is not a number from 0 to {MAX_MUTE_HOURS}"})
            if not isinstance(wanted.get("device", ""), str):
                return _json(400, {"result": "error", "error": "device: not a string"})
        else:
            wanted = params.parse(environ.get("QUERY_STRING", ""), ("device",))
        until = time.time() + wanted["hours"] * 3600 if method == "PUT" else None
        with self.store.tx() as tx:
            box = queries.find_box(tx, ident)
            if box is None:
                return _no_box()
            if not queries.mute(tx, box[0], wanted.get("device") or None, until):
                return _json(404, {"result": "error", "error": f"device: {str(wanted.get('device'))[:40]!r}: no such device of this box"})
        return _json(200, {"result": "ok", "box": box[1], "device": wanted.get("device") or None,
                           "muted_until": queries.iso(until)})


def _no_box() -> tuple[int, bytes, str, list]:
    return _json(404, {"result": "error", "error": "no such box (give its id from /boxes.json, or its licence code)"})


def _file(path: str, kind: str) -> tuple[int, bytes, str, list]:
    with open(path, "rb") as handle:
        return 200, handle.read(), kind, []


def _json(status: int, body: object, extra: list | None = None) -> tuple[int, bytes, str, list]:
    return (status, json.dumps(body, ensure_ascii=False).encode("utf-8"),
            "application/json; charset=utf-8", extra or [])
