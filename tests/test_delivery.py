import json
import time

import pytest
import requests
import responses

from peers import HangingServer, HttpSink, refused_port
from sereport.config import Config
from sereport.delivery import Sender as RealSender
from sereport.delivery import encode


def Sender(timeouts, **settings):
    """A Sender with these (connect, read) timeouts and any other config settings."""
    sender = RealSender(Config(path="test.yaml", dev_sno="X", **settings))
    sender.timeouts = timeouts
    return sender

URL = "http://platform.test:9528/DeviceStatus"
DOC = [("gateway", {"dev_sno": "X", "gateway_name": "设备"})]


@responses.activate
def test_2xx_is_ok_and_body_is_utf8_json():
    responses.post(URL, status=204)
    [result] = Sender((1, 1)).send((URL,), DOC)
    assert result.ok and result.status == 204 and result.reason == "HTTP 204 No Content"
    sent = responses.calls[0].request
    assert json.loads(sent.body.decode("utf-8")) == DOC[0][1]
    assert sent.headers["Content-Type"] == "application/json; charset=utf-8"


@responses.activate
@pytest.mark.parametrize("status", [400, 404, 500, 503])
def test_error_status_is_a_failed_result(status):
    responses.post(URL, status=status)
    [result] = Sender((1, 1)).send((URL,), DOC)
    assert not result.ok and result.status == status and result.reason.startswith(f"HTTP {status}")


@responses.activate
def test_redirect_is_not_followed():
    responses.post(URL, status=302, headers={"Location": "http://elsewhere.test/"})
    [result] = Sender((1, 1)).send((URL,), DOC)
    assert not result.ok and len(responses.calls) == 1


@responses.activate
@pytest.mark.parametrize("exc, reason", [
    (requests.ConnectTimeout(), "no connection within 1.5s"),
    (requests.ReadTimeout(), "no answer within 2.5s"),
    (requests.ConnectionError(ConnectionRefusedError(111, "refused")), "connection refused"),
    (requests.exceptions.SSLError(), "TLS error (certificate not trusted, or not a TLS server)"),
])
def test_transport_errors_become_reasons(exc, reason):
    responses.post(URL, body=exc)
    result = Sender((1.5, 2.5)).post(URL, "gateway", b"{}")
    assert not result.ok and result.reason == reason and result.status is None


@responses.activate
def test_every_document_to_every_url():
    other = "http://other.test/x"
    responses.post(URL, status=200)
    responses.post(other, status=500)
    docs = DOC + [("media", {"mq_license_key": "X"})]
    results = Sender((1, 1)).send((URL, other), docs)
    assert [(r.url, r.format, r.ok) for r in results] == [
        (URL, "gateway", True), (URL, "media", True),
        ("http://other.test/x", "gateway", False), ("http://other.test/x", "media", False)]


@responses.activate
def test_result_url_is_redacted():
    secret = "http://u:pw@platform.test/DeviceStatus?token=abc"
    responses.post(secret, body=requests.ConnectionError("http://u:pw@platform.test token=abc"))
    [result] = Sender((1, 1)).send((secret,), DOC, deadline=time.monotonic() + 0.5)
    assert "pw" not in result.url + result.reason and "abc" not in result.url + result.reason


def test_encode_keeps_chinese_readable():
    assert encode({"a": "前门"}) == '{"a":"前门"}'.encode("utf-8")


# --- over real loopback sockets -------------------------------------------------

def test_real_sink_receives_the_document():
    sink = HttpSink()
    try:
        [result] = Sender((1, 1)).send((sink.url,), DOC)
    finally:
        sink.close()
    assert result.ok and result.reason == "HTTP 200 OK"
    assert sink.received[0][1] == "/DeviceStatus" and sink.received[0][3] == DOC[0][1]


def test_real_refused_port():
    [result] = Sender((1, 1)).send((f"http://127.0.0.1:{refused_port()}/x",), DOC)
    assert not result.ok and result.reason == "connection refused"


def test_real_server_that_hangs_costs_the_read_timeout():
    server = HangingServer()
    try:
        started = time.monotonic()
        result = Sender((0.5, 0.5)).post(f"http://127.0.0.1:{server.port}/x", "gateway", b"{}")
        took = time.monotonic() - started
    finally:
        server.close()
    assert not result.ok and result.reason == "no answer within 0.5s"
    assert took < 5  # bounded by the timeout, not by the peer


def test_real_server_answering_500():
    sink = HttpSink(status=500)
    try:
        [result] = Sender((1, 1)).send((sink.url,), DOC)
    finally:
        sink.close()
    assert not result.ok and result.status == 500


def test_targets_are_sent_in_parallel():
    slow = [HttpSink(delay=0.6) for _ in range(3)]
    try:
        started = time.monotonic()
        results = Sender((2, 2)).send(tuple(s.url for s in slow), DOC)
        took = time.monotonic() - started
    finally:
        for s in slow:
            s.close()
    assert all(r.ok for r in results)
    assert took < 1.5  # three 0.6 s answers side by side, not one after another
