"""A small heartbeat receiver, like the vendor's test server on port 9528.

It accepts a POST on any path (the vendor's is /DeviceStatus), prints one
line per heartbeat and answers 200, or 400 for a body that is not a JSON
object.  ``--json-log FILE`` appends every heartbeat as one JSON line.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1024 * 1024


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
                      if k in ext)
    return (f"gateway box={doc.get('gateway_name', '?')} sn={doc.get('gateway_sn', '?')} "
            f"ip={doc.get('gateway_ip', '?')} status={doc.get('gateway_status', '?')} "
            f"devices {online}/{len(items)} online {extras}").rstrip()


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, out=None, json_log: str | None = None):
        super().__init__(address, _Handler)
        self.out = out or sys.stdout
        self.json_log = json_log
        self.lock = threading.Lock()

    def record(self, peer: str, path: str, doc: dict) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {peer} {path} {summary(doc)}"
        with self.lock:
            print(line, file=self.out, flush=True)
            if self.json_log:
                entry = {"received_at": time.time(), "peer": peer, "path": path, "body": doc}
                with open(self.json_log, "a", encoding="utf-8") as log:
                    log.write(json.dumps(entry, ensure_ascii=False) + "\n")


class _Handler(BaseHTTPRequestHandler):
    server: Receiver
    server_version = "sereport-receiver"

    def _answer(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._answer(411, {"error": "Content-Length header missing or not a number"})
        if length > MAX_BODY:
            return self._answer(413, {"error": f"body over {MAX_BODY} bytes"})
        try:
            doc = json.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError) as exc:
            return self._answer(400, {"error": f"body is not JSON: {exc}"})
        if not isinstance(doc, dict):
            return self._answer(400, {"error": "body is not a JSON object"})
        self.server.record(self.client_address[0], self.path, doc)
        self._answer(200, {"result": "ok"})

    def do_GET(self) -> None:
        self._answer(200, {"receiver": "sereport", "post_to": "/DeviceStatus"})

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass  # one summary line per heartbeat is printed instead


def serve(host: str, port: int, json_log: str | None = None, stop: threading.Event | None = None) -> int:
    try:
        server = Receiver((host, port), json_log=json_log)
    except OSError as exc:
        print(f"sereport receive: cannot listen on {host}:{port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    print(f"sereport receive: listening on http://{host}:{server.server_port}/DeviceStatus",
          file=sys.stderr, flush=True)
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
