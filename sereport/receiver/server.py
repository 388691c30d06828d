"""A heartbeat receiver operators can watch a fleet with (vendor-compatible).

It accepts a POST on any path (the vendor's is /DeviceStatus) in either
format and either media list key, checks it against the spec, prints one
line per heartbeat (or the precise problems) and answers 200, or 400 with
the problems.  It keeps the latest heartbeat per box and serves a status
page at / (one row per box, stale after 3 intervals, expandable to its
devices), which refreshes itself from /boxes.json.  ``--json-log FILE``
appends every heartbeat received as one JSON line.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sereport.receiver.validate import check

MAX_BODY = 1024 * 1024
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


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, out=None, json_log: str | None = None):
        super().__init__(address, _Handler)
        self.out = out or sys.stdout
        self.json_log = json_log
        self.lock = threading.Lock()
        self.boxes: dict[str, Box] = {}

    def record(self, peer: str, path: str, doc: object) -> tuple[str, list[str]]:
        fmt, problems = check(doc)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        if problems:
            line = f"{stamp} {peer} {path} INVALID {fmt}: " + "; ".join(problems)
        else:
            line = f"{stamp} {peer} {path} {summary(doc)}"
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


class _Handler(BaseHTTPRequestHandler):
    server: Receiver
    server_version = "sereport-receiver"

    def _send(self, code: int, body: bytes, kind: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code: int, body: object) -> None:
        self._send(code, json.dumps(body, ensure_ascii=False).encode("utf-8"),
                   "application/json; charset=utf-8")

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._json(411, {"result": "error", "errors": ["Content-Length missing or not a number"]})
        if length > MAX_BODY:
            return self._json(413, {"result": "error", "errors": [f"body over {MAX_BODY} bytes"]})
        try:
            doc = json.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError) as exc:
            return self._json(400, {"result": "error", "errors": [f"body is not JSON: {exc}"]})
        fmt, problems = self.server.record(self.client_address[0], self.path, doc)
        if problems:
            return self._json(400, {"result": "invalid", "format": fmt, "errors": problems})
        self._json(200, {"result": "ok", "format": fmt})

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/":
            with open(os.path.join(os.path.dirname(__file__), "page.html"), "rb") as html:
                page = html.read()
            return self._send(200, page, "text/html; charset=utf-8")
        if path == "/boxes.json":
            return self._json(200, self.server.views())
        self._json(404, {"error": f"no page {path}; the status page is /, heartbeats are POSTed"})

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass  # one line per heartbeat is printed instead


def serve(host: str, port: int, json_log: str | None = None,
          stop: threading.Event | None = None) -> int:
    try:
        server = Receiver((host, port), json_log=json_log)
    except OSError as exc:
        print(f"sereport receive: cannot listen on {host}:{port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    print(f"sereport receive: heartbeats to http://{host}:{server.server_port}/DeviceStatus, "
          f"status page at http://{host}:{server.server_port}/", file=sys.stderr, flush=True)
    thread = threading.Thread(target=server.serve_forever, name="receiver", daemon=True)
    thread.start()
    stop = stop or threading.Event()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.shutdown()
        server.server_close()
    return 0
