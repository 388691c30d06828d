"""A heartbeat sink for the tests in Debian roots, where the .deb has no receiver extra:
it answers every POST 200 and appends {"path", "body"} as one JSON line to a file.
Standard library only (the root's /usr/bin/python3).  Usage: json_sink.py PORT FILE"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, FILE = int(sys.argv[1]), sys.argv[2]


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = body.decode("utf-8", "replace")
        with open(FILE, "a", encoding="utf-8") as out:
            out.write(json.dumps({"path": self.path, "body": parsed}) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", PORT), Sink)
print("listening", flush=True)
server.serve_forever()
