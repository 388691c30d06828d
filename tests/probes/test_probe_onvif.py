"""The onvif probe against a SOAP responder on loopback, and against Debian's nginx and
lighttpd on [::1], which answer 400 to a Host header with an unbracketed IPv6 address."""

from __future__ import annotations

import socket

import pytest

from helpers import probe
from peers import HangingServer, LighttpdPeer, LineServer, NginxPeer, refused_port

FAULT = (b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
         b"<s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code></s:Fault></s:Body>"
         b"</s:Envelope>")
TIME = (b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
        b"<s:Body><tds:GetSystemDateAndTimeResponse/></s:Body></s:Envelope>")


def http(code: int, reason: str, body: bytes = b"") -> bytes:
    return (f"HTTP/1.1 {code} {reason}\r\nContent-Type: application/soap+xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


@pytest.mark.parametrize("answer, ok, detail", [
    (http(200, "OK", TIME), True, "HTTP 200"),
    (http(401, "Unauthorized"), True, "HTTP 401"),
    (http(400, "Bad Request", FAULT), True, "HTTP 400 with a SOAP Fault"),
    (http(500, "Internal Server Error", FAULT), True, "HTTP 500 with a SOAP Fault"),
    (http(404, "Not Found", b"<html>no</html>"), False, "HTTP 404, not an ONVIF answer"),
])
def test_answers(answer, ok, detail):
    server = LineServer(lambda req: answer)
    try:
        outcome = probe(url="127.0.0.1", probe="onvif", probe_port=server.port)
    finally:
        server.close()
    assert (outcome.ok, outcome.detail) == (ok, detail)
    request = server.requests[0]
    assert request.startswith("POST /onvif/device_service HTTP/1.1\r\n")
    assert 'action="http://www.onvif.org/ver10/device/wsdl/GetSystemDateAndTime"' in request
    assert "<GetSystemDateAndTime" in request and "Authorization" not in request


def test_refused_and_hanging():
    assert probe(url="127.0.0.1", probe="onvif", probe_port=refused_port()).reason == "refused"
    server = HangingServer()
    try:
        outcome = probe(url="127.0.0.1", probe="onvif", probe_port=server.port)
    finally:
        server.close()
    assert (outcome.ok, outcome.reason) == (False, "timeout")


def test_onvif_probe_for_an_rtsp_camera():
    server = LineServer(lambda req: http(200, "OK", TIME))
    try:
        outcome = probe(url="rtsp://127.0.0.1:9/cam", probe="onvif", probe_port=server.port)
    finally:
        server.close()
    assert outcome.ok


def post_with_host(port: int, host: str) -> str:
    """The status line a server on [::1]:port gives the probe's POST with this Host header."""
    with socket.create_connection(("::1", port), timeout=5) as conn:
        conn.sendall(f"POST /onvif/device_service HTTP/1.1\r\nHost: {host}\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
        return conn.recv(4096).decode("latin-1").split("\r\n", 1)[0]


def onvif_on_ipv6(port: int):
    return probe(url="rtsp://[::1]:554/cam", ip="::1", probe="onvif", probe_port=port)


@pytest.mark.parametrize("status", [200, 401])
def test_real_nginx_on_ipv6_loopback(tmp_path, status):
    nginx = NginxPeer(tmp_path, status)
    try:
        outcome = onvif_on_ipv6(nginx.port)
        unbracketed = post_with_host(nginx.port, f"::1:{nginx.port}")  # what the probe sent once
    finally:
        nginx.close()
    assert (outcome.ok, outcome.reason, outcome.detail) == (True, "ok", f"HTTP {status}")
    assert nginx.hosts()[0] == f"[::1]:{nginx.port}"
    assert unbracketed.startswith("HTTP/1.1 400 ")


def test_real_lighttpd_on_ipv6_loopback_asking_for_digest(tmp_path):
    lighttpd = LighttpdPeer(tmp_path)
    try:
        outcome = onvif_on_ipv6(lighttpd.port)
        unbracketed = post_with_host(lighttpd.port, f"::1:{lighttpd.port}")
    finally:
        lighttpd.close()
    assert (outcome.ok, outcome.reason, outcome.detail) == (True, "ok", "HTTP 401")
    assert unbracketed.startswith("HTTP/1.1 400 ")


def test_host_header_brackets_ipv6_and_leaves_ipv4_alone():
    for host, ip in (("::1", "[::1]"), ("127.0.0.1", "127.0.0.1")):
        server = LineServer(lambda req: http(401, "Unauthorized"), host=host)
        try:
            assert probe(url="rtsp://x/cam", ip=ip, probe="onvif", probe_port=server.port).ok
        finally:
            server.close()
        shown = f"[{host}]" if ":" in host else host
        assert f"\r\nHost: {shown}:{server.port}\r\n" in server.requests[0]
