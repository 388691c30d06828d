"""The naive receiver the benchmark compares with: http.server (a thread per connection),
every heartbeat one row in SQLite, /boxes.json the latest heartbeat of every box, whole.

Usage: python bench/receiver_baseline.py PORT DB
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
db = sqlite3.connect(sys.argv[2], check_same_thread=False)
db.execute("CREATE TABLE IF NOT EXISTS beats (box TEXT, at REAL, body TEXT)")
db.execute("CREATE INDEX IF NOT EXISTS beats_box ON beats (box, at)")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with lock:
            db.execute("INSERT INTO beats VALUES (?, ?, ?)",
                       (doc.get("dev_sno") or doc.get("mq_license_key"), time.time(), json.dumps(doc)))
            db.commit()
        self.answer(b'{"result": "ok"}')

    def do_GET(self):
        with lock:
            rows = db.execute("SELECT body FROM beats b WHERE at = (SELECT MAX(at) FROM beats "
                              "WHERE box = b.box) ORDER BY box").fetchall()
        self.answer(("[" + ",".join(body for (body,) in rows) + "]").encode())

    def answer(self, body: bytes):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
