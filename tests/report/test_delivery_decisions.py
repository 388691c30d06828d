"""Delivery's decisions on requests, without a socket (the `responses` library answers):
what is retried, the backoff, the reasons, the headers and the TLS settings of a POST."""

from __future__ import annotations

import base64
import re
import time

import pytest
import requests
import responses

from sereport.config import Config
from sereport.report import delivery
from sereport.report.delivery import Result, Sender

URL = "http://platform.test/DeviceStatus"
DOC = [("gateway", {"dev_sno": "X"})]


class FullBackoff:
    """An rng whose jitter is always the whole backoff."""

    def uniform(self, low, high):
        return high


class Jitter:
    """An rng whose jitter is always 0, and that notes each upper bound it was given."""

    def __init__(self):
        self.bounds: list[float] = []

    def uniform(self, low, high):
        self.bounds.append(high)
        return 0.0


def sender(rng=None, timeouts=(0.5, 0.5), **settings):
    s = Sender(Config(path="test.yaml", dev_sno="X", **settings), rng=rng or Jitter())
    s.timeouts = timeouts
    return s


def beat(s, url=URL, seconds=0.6):
    try:
        [result] = s.send((url,), DOC, time.monotonic() + seconds)
    finally:
        s.close()
    return result


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.mark.parametrize("status, ok, retried", [
    (200, True, False), (204, True, False), (400, False, False), (401, False, False),
    (404, False, False), (408, False, True), (429, False, True), (500, False, True),
    (503, False, True), (301, False, False), (302, False, False),
])
def test_which_statuses_are_retried(mocked, status, ok, retried):
    mocked.add(responses.POST, URL, status=status)
    mocked.add(responses.POST, URL, status=200)  # what a retry gets
    result = beat(sender(Jitter()), seconds=5)  # no random backoff: a retry comes at once
    if retried:
        assert result.ok and result.status == 200 and result.attempts == 2
    else:
        assert result.ok == ok and result.status == status and result.attempts == 1
    assert result.attempts == len(mocked.calls)


def test_a_failure_is_retried_until_it_succeeds(mocked):
    mocked.add(responses.POST, URL, status=503)
    mocked.add(responses.POST, URL, status=503)
    mocked.add(responses.POST, URL, status=200)
    result = beat(sender(), seconds=2)
    assert result.ok and result.attempts == 3 and result.reason == "HTTP 200 OK"


def test_backoff_is_exponential_capped_and_jittered_and_stops_with_the_beat(mocked):
    mocked.add(responses.POST, URL, status=500)
    rng = Jitter()
    started = time.monotonic()
    result = beat(sender(rng), seconds=0.4)
    assert time.monotonic() - started < 1.0  # the beat's 0.4 s, and the last attempt's own
    assert result.attempts > 6  # a jitter of 0: again at once, while time remains
    assert rng.bounds[:6] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]  # BACKOFF_BASE doubling, capped


def test_thousands_of_retries_keep_a_capped_backoff():
    """A beat may see more tries than a float's exponent (an rng that says "again at once")."""
    from sereport.report.delivery import backoff_bound

    assert [backoff_bound(n) for n in (1, 2, 3, 4, 5)] == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert backoff_bound(1025) == backoff_bound(10 ** 9) == 2.0  # no OverflowError


def test_no_retry_when_the_backoff_would_outlast_the_beat(mocked):
    class Late(Jitter):
        def uniform(self, low, high):
            super().uniform(low, high)
            return high
    mocked.add(responses.POST, URL, status=500)
    started = time.monotonic()
    result = beat(sender(Late()), seconds=0.3)  # 0.25 s of backoff would leave < MIN_ATTEMPT
    assert result.attempts == 1 and time.monotonic() - started < 0.25  # no 0.25 s sleep first


@pytest.mark.parametrize("error, reason, retried", [
    (requests.exceptions.ConnectTimeout("http://u:pw@platform.test/x?token=abc"),
     "no connection within 0.5s", True),
    (requests.exceptions.ReadTimeout("http://u:pw@platform.test/x?token=abc"),
     "no answer within 0.5s", True),
    (requests.exceptions.ConnectionError(ConnectionRefusedError(111, "refused: token=abc")),
     "connection refused", True),
    (requests.exceptions.ConnectionError(ConnectionResetError(104, "reset")), "connection reset",
     True),
    (requests.exceptions.SSLError("certificate verify failed for http://u:pw@platform.test/"),
     "TLS error (not a TLS server, or the TLS handshake failed)", False),
    (requests.exceptions.ProxyError(ConnectionRefusedError(111, "http://u:pw@proxy")),
     "proxy: connection refused", True),
    (requests.exceptions.InvalidURL("http://u:pw@platform.test/x?token=abc"), "invalid URL",
     False),
    (requests.exceptions.ConnectionError("Max retries exceeded with url: /x?token=abc"),
     "connection failed", True),
])
def test_failures_become_reasons_without_the_exception_text(mocked, error, reason, retried):
    mocked.add(responses.POST, URL, body=error)
    # The whole backoff, no randomness: attempts at 0, 0.25 and 0.75 s, the last with 0.25 s
    # of the beat left, so it ends by its own failure, not by the beat's deadline.
    result = beat(sender(FullBackoff()), seconds=1.0)
    assert not result.ok and result.status is None
    # a timeout shrinks as the retries use up the beat
    shrunk = re.escape(reason).replace(r"0\.5s", r"[\d.]+s")
    assert re.fullmatch(shrunk, result.reason), result.reason
    assert (result.attempts > 1) == retried and result.final == (not retried)
    assert "pw" not in result.reason and "abc" not in result.reason


def test_a_redirect_names_its_location_redacted(mocked):
    mocked.add(responses.POST, URL, status=307, headers={
        "Location": "https://u:pw@elsewhere.test/in?token=abc\x1b[2J"})
    result = beat(sender())
    assert result.reason == ("HTTP 307 Temporary Redirect, redirect to "
                             "https://u:***@elsewhere.test/in?token=*** not followed")
    assert len(mocked.calls) == 1


def test_headers_signature_and_credentials_of_the_url(mocked, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine platform.test login other password fromnetrc\n")
    monkeypatch.setenv("NETRC", str(netrc))
    mocked.add(responses.POST, re.compile(r"http://(box:pa%40ss@)?platform\.test/\w+"), status=200)
    s = sender(hmac_secret="k", http_headers=(("X-Box", "7"),))
    try:
        s.send(("http://box:pa%40ss@platform.test/DeviceStatus", "http://platform.test/plain"),
               DOC, time.monotonic() + 1)
    finally:
        s.close()
    with_url, plain = sorted((c.request for c in mocked.calls), key=lambda r: r.path_url)
    body = delivery.encode(DOC[0][1])
    assert with_url.body == body
    assert with_url.headers["Content-Type"] == "application/json; charset=utf-8"
    assert with_url.headers["User-Agent"].startswith("sereport/")
    assert with_url.headers["X-Box"] == "7"
    assert with_url.headers["X-Sereport-Signature"] == delivery.signature("k", body)
    assert with_url.headers["Authorization"] == "Basic " + base64.b64encode(b"box:pa@ss").decode()
    assert "Authorization" not in plain.headers  # never from ~/.netrc


def test_tls_settings_and_timeouts_of_a_post(mocked, tmp_path):
    ca, cert, key = (tmp_path / n for n in ("ca.pem", "c.pem", "c.key"))
    for path in (ca, cert, key):
        path.write_text("x")
    mocked.add(responses.POST, "https://platform.test/x", status=200)
    beat(sender(tls_ca_file=str(ca), tls_client_cert=str(cert), tls_client_key=str(key)),
         "https://platform.test/x", seconds=2)
    beat(sender(), "https://platform.test/x", seconds=2)
    own, system = (c.request.req_kwargs for c in mocked.calls)
    assert own["verify"] == str(ca) and own["cert"] == (str(cert), str(key))
    assert own["stream"] is True and own["timeout"] == (0.5, 0.5)
    expected = delivery.SYSTEM_CA if __import__("os").path.isfile(delivery.SYSTEM_CA) else True
    assert system["verify"] == expected and system["cert"] is None


def test_a_closed_sender_stops_retrying(mocked):
    mocked.add(responses.POST, URL, status=500)
    s = sender()
    s.close()
    assert s.post(URL, "gateway", b"{}").reason == "stopped"


def test_retryable():
    def r(ok=False, status=None, final=False):
        return Result("u", "gateway", ok, "", status, final=final)
    assert r(status=None).retryable and r(status=502).retryable and r(status=429).retryable
    assert not r(ok=True, status=200).retryable and not r(status=404).retryable
    assert not r(status=None, final=True).retryable and not r(status=500, final=True).retryable
