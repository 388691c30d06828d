"""URLs and proxies, over real loopback sockets: IRIs go out percent-encoded, non-ASCII
hosts in IDNA form, and HTTP_PROXY, HTTPS_PROXY and NO_PROXY from the environment are
honoured without a proxy's credentials ever showing (issue 12 #1, #2, #3)."""

from __future__ import annotations

import base64
import socket
import time

import pytest

from peers import refused_port
from platforms import Proxy, Scripted, answer
from sereport.config import Config
from sereport.report.delivery import Sender

DOC = [("gateway", {"dev_sno": "X"})]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def one(url, deadline=2.0, **settings):
    sender = Sender(Config(path="test.yaml", dev_sno="X", **settings))
    try:
        [result] = sender.send((url,), DOC, time.monotonic() + deadline)
    finally:
        sender.close()
    return result


@pytest.fixture
def platform():
    server = Scripted(answer(OK))
    yield server
    server.close()


@pytest.fixture
def looked_up(monkeypatch):
    """Every host name this process looks up while the test runs."""
    names = []
    real = socket.getaddrinfo

    def spy(host, *args, **kwargs):
        names.append(host)
        return real(host, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", spy)
    return names


@pytest.mark.parametrize("path, request_line", [
    ("/设备状态", "POST /%E8%AE%BE%E5%A4%87%E7%8A%B6%E6%80%81 HTTP/1.1"),
    ("/Device Status", "POST /Device%20Status HTTP/1.1"),
    ("/设备 状态?名=值",
     "POST /%E8%AE%BE%E5%A4%87%20%E7%8A%B6%E6%80%81?%E5%90%8D=%E5%80%BC HTTP/1.1"),
    ("/already%20encoded", "POST /already%20encoded HTTP/1.1"),
])
def test_an_iri_goes_out_percent_encoded(platform, path, request_line):
    result = one(f"http://127.0.0.1:{platform.port}{path}")
    assert result.ok, result.reason
    assert platform.heads[0].split("\r\n")[0] == request_line


def test_a_non_ascii_host_goes_to_the_proxy_in_idna_form(monkeypatch, looked_up):
    proxy = Proxy()
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    try:
        result = one("http://设备状态.example:9528/设备")
    finally:
        proxy.close()
    host = "设备状态.example".encode("idna").decode()
    assert host.startswith("xn--")
    assert result.ok, result.reason
    lines = proxy.heads[0].split("\r\n")
    assert lines[0] == f"POST http://{host}:9528/%E8%AE%BE%E5%A4%87 HTTP/1.1"
    assert f"Host: {host}:9528" in lines
    assert set(looked_up) == {"127.0.0.1"}  # only the proxy: the box never resolves the host


def test_proxy_credentials_go_to_the_proxy_and_never_into_a_reason(monkeypatch, platform):
    proxy = Proxy()
    monkeypatch.setenv("HTTP_PROXY", f"http://box:s3cret@127.0.0.1:{proxy.port}")
    try:
        through = one(platform.url)
    finally:
        proxy.close()
    assert through.ok and platform.posts == 0  # the proxy answered, not the platform
    assert f"Proxy-Authorization: Basic {base64.b64encode(b'box:s3cret').decode()}" in \
        proxy.heads[0].split("\r\n")

    down = refused_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://box:s3cret@127.0.0.1:{down}")
    failed = one(platform.url + "?token=abc", deadline=0.5)
    assert not failed.ok
    assert failed.reason == f"proxy http://box:***@127.0.0.1:{down}: connection refused"
    assert "s3cret" not in failed.reason + failed.url and "abc" not in failed.reason + failed.url


def test_no_proxy_goes_direct(monkeypatch, platform):
    proxy = Proxy()
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    try:
        result = one(platform.url)
    finally:
        proxy.close()
    assert result.ok and platform.posts == 1 and proxy.heads == []


def test_https_goes_through_the_proxy_tunnel(monkeypatch, tmp_path):
    from peers import self_signed
    import ssl

    cert, key = self_signed(tmp_path)  # CN=camera.test, no IP: checked through tls_ca_file
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    platform = Scripted(answer(OK), tls_context=context)
    proxy = Proxy()
    monkeypatch.setenv("HTTPS_PROXY", f"http://box:s3cret@127.0.0.1:{proxy.port}")
    try:
        untrusted = one(platform.url)
        refused = Proxy(connect_status=407)
        monkeypatch.setenv("HTTPS_PROXY", f"http://box:s3cret@127.0.0.1:{refused.port}")
        try:
            no_tunnel = one(platform.url)
        finally:
            refused.close()
    finally:
        proxy.close()
        platform.close()
    assert proxy.heads[0].startswith(f"CONNECT 127.0.0.1:{platform.port} HTTP/1.")
    assert "Proxy-Authorization: Basic " in proxy.heads[0]
    # Through the tunnel, TLS is the platform's: its certificate is checked, and fails once.
    assert not untrusted.ok and untrusted.reason.startswith("TLS error: certificate not trusted")
    assert untrusted.attempts == 1 and len(proxy.heads) == 1
    assert no_tunnel.reason == (f"proxy http://box:***@127.0.0.1:{refused.port}: "
                                "tunnel refused (HTTP 407)")
    assert platform.posts == 0
