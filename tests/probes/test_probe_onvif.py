"""The onvif probe against a SOAP responder on loopback."""

from __future__ import annotations

import pytest

from helpers import probe
from peers import HangingServer, LineServer, refused_port

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
