"""HTTPS, client certificates, extra headers, the HMAC signature and retries,
over real loopback sockets."""

from __future__ import annotations

import hashlib
import hmac
import ssl
import subprocess
import time

import pytest

from peers import Platform
from sereport.config import Config
from sereport.report.delivery import Sender, signature

DOC = [("gateway", {"dev_sno": "X"})]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl."""
    d = tmp_path_factory.mktemp("pki")

    def sh(*args):
        subprocess.run(args, check=True, capture_output=True, cwd=d)

    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
       "ca.pem", "-subj", "/CN=test CA", "-days", "2")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
           f"{name}.csr", "-subj", f"/CN={name}")
        sh("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
           "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", "san.ext")
    return d


def https_platform(pki, require_client_cert=False):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki / "ca.pem")
    return Platform(tls_context=context)


def sender(**settings):
    return Sender(Config(path="test.yaml", dev_sno="X", **settings))


def test_self_signed_rejected_without_ca_accepted_with_it(pki):
    platform = https_platform(pki)
    try:
        [refused] = sender().send((platform.url,), DOC, time.monotonic() + 2)
        [accepted] = sender(tls_ca_file=str(pki / "ca.pem")).send((platform.url,), DOC,
                                                                  time.monotonic() + 2)
    finally:
        platform.close()
    assert not refused.ok and refused.reason.startswith("TLS error")
    assert accepted.ok and accepted.reason == "HTTP 200 OK"
    assert platform.bodies()[-1] == DOC[0][1]


def test_client_certificate(pki):
    platform = https_platform(pki, require_client_cert=True)
    ca = str(pki / "ca.pem")
    try:
        [without] = sender(tls_ca_file=ca).send((platform.url,), DOC, time.monotonic() + 2)
        [with_cert] = sender(tls_ca_file=ca, tls_client_cert=str(pki / "client.pem"),
                             tls_client_key=str(pki / "client.key")).send(
            (platform.url,), DOC, time.monotonic() + 2)
    finally:
        platform.close()
    assert not without.ok
    assert with_cert.ok


def test_http_url_never_upgraded_or_downgraded(pki):
    """An https platform asked over http gets no heartbeat in clear it would accept."""
    platform = https_platform(pki)
    try:
        [result] = sender().send((platform.url.replace("https", "http"),), DOC,
                                 time.monotonic() + 1)
    finally:
        platform.close()
    assert not result.ok and platform.bodies() == []


def test_signature_header_verifies_and_extra_headers_arrive():
    platform = Platform()
    try:
        [result] = sender(hmac_secret="shared secret",
                          http_headers=(("Authorization", "Bearer T0KEN"),)).send(
            (platform.url,), DOC, time.monotonic() + 2)
    finally:
        platform.close()
    assert result.ok
    _, _, _, headers, raw = platform.arrivals[0]
    expected = "sha256=" + hmac.new(b"shared secret", raw, hashlib.sha256).hexdigest()
    assert headers["x-sereport-signature"] == expected == signature("shared secret", raw)
    assert headers["authorization"] == "Bearer T0KEN"
    assert headers["content-type"] == "application/json; charset=utf-8"


def test_no_signature_header_without_a_secret():
    platform = Platform()
    try:
        sender().send((platform.url,), DOC, time.monotonic() + 2)
    finally:
        platform.close()
    assert "x-sereport-signature" not in platform.arrivals[0][3]


# --- retries within the beat ---------------------------------------------------------

def test_a_failure_is_retried_while_the_beat_has_time():
    platform = Platform()
    platform.set("error")
    try:
        flip = __import__("threading").Timer(0.3, platform.set, ("ok",))
        flip.start()
        [result] = sender().send((platform.url,), DOC, time.monotonic() + 3)
    finally:
        platform.close()
    assert result.ok and result.attempts >= 2
    assert [a[1] for a in platform.arrivals][-1] == "ok"


def test_client_errors_are_not_retried():
    from peers import HttpSink
    sink = HttpSink(status=400)
    try:
        [result] = sender().send((sink.url,), DOC, time.monotonic() + 3)
    finally:
        sink.close()
    assert len(sink.received) == 1
    assert not result.ok and result.attempts == 1


def test_the_beat_deadline_bounds_every_attempt():
    platform = Platform()
    platform.set("hang")
    try:
        started = time.monotonic()
        [result] = sender().send((platform.url,), DOC, started + 1.0)
        took = time.monotonic() - started
    finally:
        platform.close()
    assert not result.ok and result.reason.startswith("no answer within")
    assert took < 1.5, took


def test_a_post_still_stuck_is_not_joined_by_another():
    platform = Platform()
    platform.set("hang")
    s = sender()
    s.timeouts = (1.0, 5.0)  # the POST outlives the short beat below
    try:
        s._attempts = lambda url, fmt, body, deadline: time.sleep(3) or None
        [first] = s.send((platform.url,), DOC, time.monotonic() + 0.3)
        [second] = s.send((platform.url,), DOC, time.monotonic() + 0.3)
    finally:
        platform.close()
        s.close()
    assert first.reason == "no answer before the beat's deadline"
    assert second.reason == "the previous POST there has not ended yet" and second.attempts == 0


# --- a failed certificate check (issue 12 #4) ----------------------------------------

def test_a_failed_certificate_check_is_one_handshake_per_beat(pki):
    """Retrying cannot mend a certificate: one handshake per beat, not one per backoff."""
    from platforms import Scripted, answer

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    platform = Scripted(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), context)
    s = sender()  # the system's CAs: the test CA is not one of them
    try:
        results = [s.send((platform.url,), DOC, time.monotonic() + 2)[0] for _ in range(2)]
    finally:
        s.close()
        platform.close()
    for result in results:
        assert not result.ok and result.attempts == 1 and result.final
        assert result.reason.startswith("TLS error: certificate not trusted")
    assert platform.accepted == 2 and platform.posts == 0


def test_https_through_a_proxy_tunnel_is_verified_end_to_end(pki, monkeypatch):
    from platforms import Proxy

    proxy = Proxy()
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    platform = https_platform(pki)
    try:
        [result] = sender(tls_ca_file=str(pki / "ca.pem")).send((platform.url,), DOC,
                                                               time.monotonic() + 2)
    finally:
        platform.close()
        proxy.close()
    assert result.ok, result.reason
    [head] = proxy.heads
    assert head.startswith(f"CONNECT 127.0.0.1:{platform.port} HTTP/1.")
    assert platform.bodies() == [DOC[0][1]]


def test_a_platform_that_never_does_its_tls_handshake():
    """https:// to a server that never answers the ClientHello: the connect timeout."""
    from peers import HangingServer

    server = HangingServer()
    s = sender()
    s.timeouts = (0.3, 2)
    try:
        result = s.post(f"https://127.0.0.1:{server.port}/x", "gateway", b"{}")
    finally:
        server.close()
        s.close()
    assert not result.ok and result.reason == "no TLS handshake within 0.3s"
    assert result.elapsed < 1
