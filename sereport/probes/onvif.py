"""onvif: the device answers an unauthenticated SOAP GetSystemDateAndTime.

POST to http://IP:PORT/onvif/device_service (port: probe_port, else 80); an
IPv6 address is bracketed in the Host header ("Host: [::1]:80"), as HTTP
servers insist.
HTTP 200, 401 (auth wanted) or a SOAP Fault all mean the device is up.
"""

from __future__ import annotations

from sereport.probes import (USER_AGENT, Outcome, ProbeError, Settings, connect, host_port,
                             read_head, skip_body, status_code)

PATH = "/onvif/device_service"
ACTION = "http://www.onvif.org/ver10/device/wsdl/GetSystemDateAndTime"
BODY = (b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
        b'<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/>'
        b"</s:Body></s:Envelope>")


def probe(device, settings: Settings):
    port = device.probe_port or 80
    stream = yield from connect(device.ip, port, settings)
    try:
        head = (f"POST {PATH} HTTP/1.1\r\nHost: {host_port(device.ip, port)}\r\n"
                f'Content-Type: application/soap+xml; charset=utf-8; action="{ACTION}"\r\n'
                f"Content-Length: {len(BODY)}\r\nUser-Agent: {USER_AGENT}\r\n"
                "Connection: close\r\n\r\n")
        yield from stream.write(head.encode("ascii") + BODY)
        line, headers = yield from read_head(stream)
        code = status_code(line, "HTTP")
        if code in (200, 401):
            return Outcome(True, "ok", f"HTTP {code}")
        body = yield from skip_body(stream, headers)
        if b"Fault" in body:
            return Outcome(True, "ok", f"HTTP {code} with a SOAP Fault")
        raise ProbeError("bad_response", f"HTTP {code}, not an ONVIF answer")
    finally:
        stream.close()
