"""The rtsp probe against Debian's GStreamer RTSP server and hostile loopback peers."""

from __future__ import annotations

import re
import time

import pytest

from helpers import FAST, probe
from peers import GstRtspServer, HangingServer, LineServer, StallingRtspCamera, refused_port
from sereport.probes.rtsp import authorization, parse_challenge

PASSWORD = "pa:ss@1"  # characters that must be percent-encoded in a URL
QUOTED = "pa%3Ass%401"


@pytest.fixture(scope="module")
def open_server():
    server = GstRtspServer("none")
    yield server
    server.close()


@pytest.fixture(scope="module")
def basic_server():
    server = GstRtspServer("basic", "admin", PASSWORD)
    yield server
    server.close()


@pytest.fixture(scope="module")
def digest_server():
    server = GstRtspServer("digest", "admin", PASSWORD)
    yield server
    server.close()


def test_open_server_is_up(open_server):
    outcome = probe(url=f"{open_server.base}/cam")
    assert (outcome.ok, outcome.reason, outcome.detail) == (True, "ok", "RTSP 200")


def test_open_server_wrong_path_with_credentials_is_not_found(open_server):
    outcome = probe(url=f"rtsp://admin:x@127.0.0.1:{open_server.port}/nope")
    assert (outcome.ok, outcome.reason, outcome.detail) == (True, "not_found", "RTSP 404")


@pytest.mark.parametrize("server", ["basic_server", "digest_server"])
def test_auth_right_password_describes(request, server):
    peer = request.getfixturevalue(server)
    outcome = probe(url=f"rtsp://admin:{QUOTED}@127.0.0.1:{peer.port}/cam")
    assert (outcome.ok, outcome.reason, outcome.detail) == (True, "ok", "RTSP 200")


@pytest.mark.parametrize("server", ["basic_server", "digest_server"])
def test_auth_credentials_from_the_record(request, server):
    peer = request.getfixturevalue(server)
    outcome = probe(url=f"{peer.base}/cam", username="admin", password=PASSWORD)
    assert (outcome.ok, outcome.reason) == (True, "ok")


@pytest.mark.parametrize("server", ["basic_server", "digest_server"])
def test_auth_wrong_password_is_up_but_auth_failed(request, server):
    peer = request.getfixturevalue(server)
    outcome = probe(url=f"rtsp://admin:wrong@127.0.0.1:{peer.port}/cam")
    assert (outcome.ok, outcome.reason, outcome.detail) == (True, "auth_failed", "RTSP 401")


def test_auth_server_without_credentials_is_up(digest_server):
    assert probe(url=f"{digest_server.base}/cam").reason == "ok"


def test_refused():
    outcome = probe(url=f"rtsp://127.0.0.1:{refused_port()}/cam")
    assert (outcome.ok, outcome.reason) == (False, "refused")


def test_accepts_and_never_answers_times_out():
    server = HangingServer()
    try:
        started = time.monotonic()
        outcome = probe(url=f"rtsp://127.0.0.1:{server.port}/cam")
        took = time.monotonic() - started
    finally:
        server.close()
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert took < FAST.timeout + 1.0


def test_never_accepts_times_out_at_connect():
    server = HangingServer(accept=False)
    fillers = []
    try:
        import socket
        for _ in range(8):  # fill the backlog so the next SYN gets no answer
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", server.port))
            fillers.append(filler)
        outcome = probe(url=f"rtsp://127.0.0.1:{server.port}/cam")
    finally:
        for filler in fillers:
            filler.close()
        server.close()
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert outcome.detail == "no connection within 0.5s"


def test_non_rtsp_answer_is_bad_response():
    server = LineServer(lambda req: b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    try:
        outcome = probe(url=f"rtsp://127.0.0.1:{server.port}/cam")
    finally:
        server.close()
    assert (outcome.ok, outcome.reason) == (False, "bad_response")


def test_request_has_cseq_user_agent_and_no_credentials_in_uri():
    server = LineServer(lambda req: b"RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\n"
                                    b'WWW-Authenticate: Basic realm="x"\r\n\r\n')
    try:
        probe(url=f"rtsp://admin:secret@127.0.0.1:{server.port}/cam")
    finally:
        server.close()
    first = server.requests[0]
    assert first.startswith(f"OPTIONS rtsp://127.0.0.1:{server.port}/cam RTSP/1.0\r\n")
    assert "CSeq: 1\r\n" in first and "User-Agent: sereport/" in first
    assert "secret" not in "".join(server.requests[:2])  # only the Basic header carries it
    assert server.requests[1].startswith("DESCRIBE ") and "CSeq: 2" in server.requests[1]


def test_rtsps_over_tls(tmp_path):
    server = LineServer(lambda req: b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n", tls_dir=tmp_path)
    try:
        outcome = probe(url=f"rtsps://127.0.0.1:{server.port}/cam")
    finally:
        server.close()
    assert (outcome.ok, outcome.reason) == (True, "ok")


def test_rtsps_to_a_plain_server_is_tls_error():
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))

    def answer_in_plain_text():
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)  # the ClientHello
            conn.sendall(b"RTSP/1.0 400 Bad Request\r\nCSeq: 0\r\n\r\n")

    threading.Thread(target=answer_in_plain_text, daemon=True).start()
    try:
        outcome = probe(url=f"rtsps://127.0.0.1:{listener.getsockname()[1]}/cam")
    finally:
        listener.close()
    assert (outcome.ok, outcome.reason) == (False, "tls_error")


def test_digest_rfc2617_vector():
    header = authorization(
        ['Digest realm="testrealm@host.com", qop="auth,auth-int", '
         'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'],
        "Mufasa", "Circle Of Life", "GET", "/dir/index.html", cnonce="0a4f113b")
    assert 'response="6629fae49393a05397450978507c4ef1"' in header
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in header and "nc=00000001" in header


def test_digest_preferred_over_basic_and_sha256_ignored():
    assert authorization(['Basic realm="a"', 'Digest realm="a", nonce="n"'], "u", "p", "DESCRIBE",
                         "rtsp://x/").startswith("Digest ")
    assert authorization(['Digest realm="a", nonce="n", algorithm=SHA-256'], "u", "p", "DESCRIBE",
                         "rtsp://x/") is None


def test_parse_challenge_quoted_values():
    assert parse_challenge('Digest realm="a \\"b\\", c", nonce=abc') == (
        "digest", {"realm": 'a "b", c', "nonce": "abc"})


def test_real_server_on_ipv6_loopback_with_digest():
    server = GstRtspServer("digest", "admin", PASSWORD, host="::1")
    try:
        outcome = probe(url=f"rtsp://admin:{QUOTED}@[::1]:{server.port}/cam")
        wrong = probe(url=f"rtsp://admin:wrong@[::1]:{server.port}/cam", ip="::1")
    finally:
        server.close()
    assert (outcome.ok, outcome.reason, outcome.detail) == (True, "ok", "RTSP 200")
    assert (wrong.ok, wrong.reason) == (True, "auth_failed")


def test_ipv6_request_uri_keeps_its_brackets():
    server = LineServer(lambda req: b"RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\n"
                                    b'WWW-Authenticate: Digest realm="r", nonce="n"\r\n\r\n'
                        if req.startswith("DESCRIBE") else b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n",
                        host="::1")
    try:
        probe(url=f"rtsp://admin:secret@[::1]:{server.port}/cam")
    finally:
        server.close()
    uri = f"rtsp://[::1]:{server.port}/cam"
    assert [r.split("\r\n", 1)[0] for r in server.requests] == [
        f"OPTIONS {uri} RTSP/1.0", f"DESCRIBE {uri} RTSP/1.0", f"DESCRIBE {uri} RTSP/1.0"]
    assert f'uri="{uri}"' in server.requests[2]


@pytest.mark.parametrize("stall_on, host, url_host", [
    ("DESCRIBE with credentials", "127.0.0.1", "127.0.0.1"),
    ("DESCRIBE with credentials", "::1", "[::1]"),
    ("DESCRIBE", "127.0.0.1", "127.0.0.1"),
])
def test_a_camera_that_answered_options_then_hangs_on_describe_stays_online(stall_on, host,
                                                                            url_host):
    camera = StallingRtspCamera(stall_on, host=host)
    try:
        started = time.monotonic()
        outcome = probe(url=f"rtsp://admin:{QUOTED}@{url_host}:{camera.port}/cam")
        took = time.monotonic() - started
    finally:
        camera.close()
    assert (outcome.ok, outcome.reason) == (True, "describe_timeout")
    assert re.fullmatch(rf"answered OPTIONS; {stall_on} got no answer within (0\.9|1\.0)s",
                        outcome.detail), outcome.detail
    asked = [r.split(" ", 1)[0] for r in camera.requests]
    if stall_on == "DESCRIBE":
        assert asked == ["OPTIONS", "DESCRIBE"]
    else:
        assert asked == ["OPTIONS", "DESCRIBE", "DESCRIBE"]
        assert "\r\nAuthorization: Digest " in camera.requests[2]
    assert FAST.timeout - 0.05 <= took < FAST.timeout + 0.5  # the probe's deadline, no later

