"""A heartbeat receiver operators can watch a fleet with (vendor-compatible).

It accepts a POST on any path (the vendor's is /DeviceStatus) in either
format and either media list key, checks it against the spec, prints one
line per heartbeat (or the precise problems) and answers 200, or 400 with
the problems.  It keeps the latest heartbeat per box and serves a status
page at / (one row per box, stale after 3 intervals, expandable to its
devices), which refreshes itself from /boxes.json.  ``--json-log FILE``
appends every heartbeat received as one JSON line.

``Receiver`` is a WSGI app, served by waitress through the shared helper
``sereport.httpd`` (the receiver imports nothing of the agent): HTTP/1.1 with
keep-alive and ``Expect: 100-continue``, IPv4 or IPv6, a few worker threads,
at most ``CONNECTION_LIMIT`` connections, each closed after ``--idle-timeout``
seconds of quiet.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from collections import deque

from sereport import httpd, limits
from sereport.logs import escape
from sereport.receiver.validate import check

MAX_BODY = 1024 * 1024
IDLE_TIMEOUT = 30  # seconds before a quiet connection is closed (--idle-timeout)
THREADS = 4
CONNECTION_LIMIT = 200
PAGE = os.path.join(os.path.dirname(__file__), "page.html")
STALE_AFTER = 3  # intervals
DEFAULT_INTERVAL = 5.0  # until two heartbeats of a box tell its own


def mask(secret: str) -> str:
    """A licence code shown so a person can tell boxes apart, not copy it."""
    return secret[:4] + "…" + secret[-4:] if len(secret) > 10 else "***"


def summary(doc: dict) -> str:
    if "mq_license_key" in doc:
        items = doc.get("media_devices", doc.get("sub_devices")) or []
        online = sum(1 for d in items if isinstance(d, dict)
                     and d.get("media_device_status") == "online")
        return (f"media box={mask(str(doc['mq_license_key']))} "
                f"devices {online}/{len(items)} online")
    items = doc.get("sub_devices") or []
    online = sum(1 for d in items if isinstance(d, dict) and d.get("ep_status") == "online")
    ext = doc.get("gateway_ext_data") or {}
    extras = " ".join(f"{k}={ext[k]}" for k in ("cpu_usage", "memory_usage", "disk_free_size")
                      if isinstance(ext, dict) and k in ext)
    return (f"gateway box={doc.get('gateway_name', '?')} sn={doc.get('gateway_sn', '?')} "
            f"ip={doc.get('gateway_ip', '?')} status={doc.get('gateway_status', '?')} "
            f"devices {online}/{len(items)} online {extras}").rstrip()


def _devices(fmt: str, doc: dict) -> list[dict]:
    if fmt == "gateway":
        return [{"name": d.get("ep_name", ""), "ip": d["ep_ip"], "status": d["ep_status"],
                 "type": d["ep_type"], "url": d.get("ep_url", "")} for d in doc["sub_devices"]]
    items = doc.get("media_devices", doc.get("sub_devices"))
    return [{"name": d["media_device_name"], "ip": d["media_device_ip"],
             "status": d["media_device_status"], "type": d["media_device_type"],
             "url": d["media_device_url"]} for d in items]


class Box:
    """The latest heartbeats of one box (keyed by its licence code)."""

    def __init__(self, licence: str):
        self.licence = licence
        self.latest: dict[str, dict] = {}  # format -> document
        self.arrivals: dict[str, deque] = {}  # format -> recent monotonic arrival times
        self.last_seen = 0.0  # wall clock
        self.last_seen_mono = 0.0
        self.peer = ""

    def record(self, fmt: str, doc: dict, peer: str) -> None:
        self.latest[fmt] = doc
        self.arrivals.setdefault(fmt, deque(maxlen=6)).append(time.monotonic())
        self.last_seen, self.last_seen_mono, self.peer = time.time(), time.monotonic(), peer

    def interval(self) -> float | None:
        gaps = [b - a for times in self.arrivals.values() for a, b in zip(times, list(times)[1:])]
        return statistics.median(gaps) if gaps else None

    def view(self) -> dict:
        interval = self.interval()
        age = time.monotonic() - self.last_seen_mono
        gateway = self.latest.get("gateway", {})
        fmt = "gateway" if gateway else "media"
        devices = _devices(fmt, self.latest[fmt])
        return {
            "box": mask(self.licence), "name": gateway.get("gateway_name", ""),
            "ip": gateway.get("gateway_ip", self.peer), "sn": gateway.get("gateway_sn", ""),
            "status": gateway.get("gateway_status", ""), "formats": sorted(self.latest),
            "last_seen": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.last_seen)),
            "age": round(age, 1), "interval": round(interval, 2) if interval else None,
            "stale": age > STALE_AFTER * (interval or DEFAULT_INTERVAL),
            "online": sum(d["status"] == "online" for d in devices), "total": len(devices),
            "devices": devices,
            "ext": gateway.get("gateway_ext_data", {}),
        }


class Receiver:
    """The boxes seen, and the WSGI app that records and shows them."""

    def __init__(self, out=None, json_log: str | None = None):
        self.out = out or sys.stdout
        self.json_log = json_log
        self.lock = threading.Lock()
        self.boxes: dict[str, Box] = {}

    def record(self, peer: str, path: str, doc: object) -> tuple[str, list[str]]:
        fmt, problems = check(doc)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        shown = path.split("?", 1)[0] + ("?…" if "?" in path else "")  # a query may hold a key
        if problems:
            line = f"{stamp} {peer} {shown} INVALID {fmt}: " + "; ".join(problems)
        else:
            line = f"{stamp} {peer} {shown} {summary(doc)}"
        line = escape(line)  # a gateway_name with a newline or ESC[2J cannot forge or clear lines
        with self.lock:
            if not problems:
                licence = doc["dev_sno"] if fmt == "gateway" else doc["mq_license_key"]
                self.boxes.setdefault(licence, Box(licence)).record(fmt, doc, peer)
            print(line, file=self.out, flush=True)
            if self.json_log:
                entry = {"received_at": time.time(), "peer": peer, "path": path, "format": fmt,
                         "valid": not problems, "problems": problems, "body": doc}
                with open(self.json_log, "a", encoding="utf-8") as log:
                    log.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return fmt, problems

    def views(self) -> list[dict]:
        with self.lock:
            return sorted((box.view() for box in self.boxes.values()),
                          key=lambda v: (v["name"], v["box"]))

    # --- HTTP -------------------------------------------------------------------

    def __call__(self, environ: dict, start_response) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("REQUEST_URI", environ.get("PATH_INFO", "/"))
        status, body, kind, extra = self.answer(method, path, environ)
        start_response(httpd.status_line(status),
                       [("Content-Type", kind), ("Content-Length", str(len(body))),
                        ("Cache-Control", "no-store")] + extra)
        return [] if method == "HEAD" else [body]

    def answer(self, method: str, path: str, environ: dict) -> tuple[int, bytes, str, list]:
        if method == "POST":
            return self._post(path, environ)
        if method not in ("GET", "HEAD"):
            return _json(405, {"error": f"{method} is not allowed; heartbeats are POSTed, "
                                        "the status page is a GET of /"},
                         [("Allow", "GET, HEAD, POST")])
        page = path.split("?", 1)[0]
        if page == "/":
            with open(PAGE, "rb") as html:
                return 200, html.read(), "text/html; charset=utf-8", []
        if page == "/boxes.json":
            return _json(200, self.views())
        return _json(404, {"error": f"no page {page}; the status page is /, heartbeats are POSTed"})

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


def _json(status: int, body: object, extra: list | None = None) -> tuple[int, bytes, str, list]:
    return (status, json.dumps(body, ensure_ascii=False).encode("utf-8"),
            "application/json; charset=utf-8", extra or [])


def _error_body(_status: int, message: str) -> tuple[str, bytes]:
    """The body of waitress's own answers (malformed requests, a body too large)."""
    return ("application/json; charset=utf-8",
            json.dumps({"result": "error", "errors": [message]}).encode("utf-8"))


def listen(receiver: Receiver, host: str, port: int,
           idle_timeout: int = IDLE_TIMEOUT) -> httpd.HttpServer:
    """The receiver's HTTP server on host:port, not started yet; OSError if it cannot listen."""
    return httpd.HttpServer(receiver, host, port, name="sereport-receiver",
                            error_body=_error_body, threads=THREADS,
                            connection_limit=CONNECTION_LIMIT, idle_timeout=idle_timeout,
                            max_body=MAX_BODY)


def serve(host: str, port: int, json_log: str | None = None,
          stop: threading.Event | None = None, idle_timeout: int = IDLE_TIMEOUT) -> int:
    receiver = Receiver(json_log=json_log)
    try:
        server = listen(receiver, host, port, idle_timeout)
    except OSError as exc:
        print(f"sereport receive: cannot listen on {host} port {port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    base = server.url
    print(f"sereport receive: heartbeats to {base}DeviceStatus, status page at {base}",
          file=sys.stderr, flush=True)
    server.start()
    stop = stop or threading.Event()
    try:
        stop.wait()
    finally:
        server.stop()
    return 0
