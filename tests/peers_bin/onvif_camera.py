"""An ONVIF camera for the discovery tests, published by a third-party WS-Discovery
implementation (the WSDiscovery package), run inside a test network namespace.

    onvif_camera.py EPR XADDR [SCOPE ...] [--http ADDRESS:PORT]

It publishes a dn:NetworkVideoTransmitter with that endpoint reference, device
service address and scopes (its Hello goes out at once), answers Probes, and
with --http answers every HTTP request with 200 (so the onvif probe finds it
online). It prints "ready" when published; a line "bye" on standard input makes
it send Bye and exit.
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from wsdiscovery import QName, Scope, threaded
from wsdiscovery.publishing import ThreadedWSPublishing


class _NoIPv6:  # WSDiscovery 2.1.2 queues every unicast answer on its IPv6 thread too, whose
    def __init__(self, _observer):  # sendto of an IPv4 address then kills it; IPv4 only here
        raise OSError("IPv6 left out")


threaded.NetworkingThreadIPv6 = _NoIPv6

TYPE = QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")


class Ok(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main(argv: list[str]) -> None:
    http = None
    if "--http" in argv:
        at = argv.index("--http")
        host, port = argv[at + 1].rsplit(":", 1)
        http = ThreadingHTTPServer((host, int(port)), Ok)
        threading.Thread(target=http.serve_forever, daemon=True).start()
        del argv[at:at + 2]
    epr, xaddr, scopes = argv[0], argv[1], argv[2:]
    publisher = ThreadedWSPublishing(uuid_=epr)
    publisher.start()
    publisher.publishService(types=[TYPE], scopes=[Scope(s) for s in scopes], xAddrs=[xaddr])
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "bye":
            break
    publisher.clearLocalServices()  # sends Bye (repeated, as SOAP-over-UDP says)
    time.sleep(1.5)
    publisher.stop()
    if http is not None:
        http.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
