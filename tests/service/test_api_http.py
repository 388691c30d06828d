"""The local API's HTTP, attacked over loopback in a real `sereport run` process:
framing and smuggling, bounds on connections and threads, slow clients, chunked
bodies, IPv6, HEAD and keep-alive.  Every answer with a body is checked against
openapi.yaml."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import pytest
import requests

import rawhttp
from openapi_check import check_response, problems
from peers import Platform, refused_port
from procs import Logged, wait_for

LICENCE = "ZKZCPI000120190807142601"
ERROR = {"$ref": "#/components/schemas/Error"}
HOST = "127.0.0.1"


def config_text(platform_url: str, port: int, extra: str = "") -> str:
    return (f"dev_sno: {LICENCE}\nWEB_HEART_URL: {platform_url}\nWEB_HEART_TIME: 1\n"
            f"extensions: [beat_seq]\noffline_beat_on_stop: false\napi_port: {port}\n{extra}")


def auth(api) -> dict:
    """A change needs the local token the daemon keeps in its state directory."""
    return {"Authorization": "Bearer " + (api.state / "api-token").read_text().strip()}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """One `sereport run` for the tests that do not change it; api_idle_timeout: 2."""
    tmp = tmp_path_factory.mktemp("api")
    platform = Platform()
    port = refused_port()
    path = tmp / "sereport.yaml"
    path.write_text(config_text(platform.url, port, f"api_idle_timeout: 2\nstate_dir: {tmp}/state\n"
                                                     f"runtime_dir: {tmp}/run\n"))
    proc = Logged(tmp / "daemon", "--config", str(path), "run")
    try:
        proc.wait_log("local API on")
        proc.port, proc.platform, proc.state = port, platform, tmp / "state"
        yield proc
    finally:
        proc.kill()
        platform.close()


def assert_error_answer(raw: bytes, status: int, closed: bool) -> dict:
    """One answer, status, an Error body, and the connection closed after it."""
    got = rawhttp.answers(raw)
    assert [g[0] for g in got] == [status], raw
    _, headers, body = got[0]
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers.get("connection") == "close" and closed, raw
    parsed = json.loads(body)
    assert not problems(parsed, ERROR), parsed
    return parsed


# --- 1. Content-Length: -1 -------------------------------------------------------------

def test_negative_content_length_is_a_400_at_once(api):
    # Before: no answer, and the request after it on the connection was swallowed.
    raw, closed, took = rawhttp.talk(HOST, api.port, rawhttp.request(
        "POST", "/sophon/v2/face/getconfigs", headers={"Content-Length": "-1"})
        + rawhttp.request("GET", "/status"))
    assert took < 1.0, took
    body = assert_error_answer(raw, 400, closed)  # the GET after it is not served either
    assert body == {"result": "error", "error": "Content-Length is invalid"}
    check_response("POST", "/sophon/v2/face/getconfigs", 400, "application/json", body)


# --- 2. smuggling ------------------------------------------------------------------------

SMUGGLED = rawhttp.request("POST", "/sophon/v2/face/setconfigs",
                           json.dumps({"config_dict": {"WEB_HEART_TIME": 7}}).encode())


@pytest.mark.parametrize("head, why", [
    ("Content-Length: 2_5", "Content-Length is invalid"),
    ("Content-Length: +25", "Content-Length is invalid"),
    ("Content-Length : 26", "Invalid header"),
    ("Content-Length: 0\r\nContent-Length: 26", "Content-Length is invalid"),
    ("X-Padding: a\r\n Content-Length: 26", "a header line folded onto the next (obs-fold) is not accepted"),
    ("X-Padding: a\r\n\tContent-Length: 26", "a header line folded onto the next (obs-fold) is not accepted"),
    ("Content-Length: 26\r\nTransfer-Encoding: chunked", "Transfer-Encoding and Content-Length together"),
    ("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity", "Transfer-Encoding requested is not supported."),
])
def test_smuggling_patterns_are_a_400_and_smuggle_nothing(api, head, why):
    # The outer request's body is a whole setconfigs request: a server reading the framing
    # another way than the client would run it as a second request.
    outer = (f"POST /sophon/v2/face/getconfigs HTTP/1.1\r\nHost: test\r\n{head}\r\n\r\n"
             ).encode() + SMUGGLED
    raw, closed, took = rawhttp.talk(HOST, api.port, outer)
    status = 501 if "identity" in head else 400
    body = assert_error_answer(raw, status, closed)
    assert body["error"] == why and took < 1.0
    values = requests.get(f"http://{HOST}:{api.port}/sophon/v2/face/getconfigs", timeout=5).json()
    assert values["WEB_HEART_TIME"] == 1 and not (api.state / "overrides.yaml").exists()


def test_transfer_encoding_in_http_1_0_is_a_400(api):
    raw, closed, _ = rawhttp.talk(HOST, api.port, b"POST /devices HTTP/1.0\r\nConnection: keep-alive\r\n"
                                                  b"Transfer-Encoding: chunked\r\n\r\n"
                                  + rawhttp.chunked(b'{"url": "127.0.0.31"}'))
    assert assert_error_answer(raw, 400, closed)["error"] == "Transfer-Encoding in an HTTP/1.0 request"
    assert "127.0.0.31" not in requests.get(f"http://{HOST}:{api.port}/devices", timeout=5).text


@pytest.mark.parametrize("data, status, why", [
    (b"HELLO\r\n\r\n", 400, "Start line is invalid"),
    (b"GET /status\r\n\r\n", 400, "not an HTTP request line"),
    (b"GET /status HTTP/2.0\r\n\r\n", 505, "HTTP/2.0 is not spoken here; use HTTP/1.1"),
    (b"GET /status HTTP/1.1\r\nno colon here\r\n\r\n", 400, "Invalid header"),
    (b"get /status HTTP/1.1\r\n\r\n", 400, 'Malformed HTTP method "get"'),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 431, "request line and headers over 8192 bytes"),
    (b"GET /status HTTP/1.1\r\n" + b"X-A: b\r\n" * 2000 + b"\r\n", 431, "request line and headers over 8192 bytes"),
    (b"POST /devices HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", 413, "body over the limit of 65536 bytes"),
])
def test_malformed_requests_get_a_4xx_error_and_a_close(api, data, status, why):
    raw, closed, _ = rawhttp.talk(HOST, api.port, data)
    assert assert_error_answer(raw, status, closed)["error"] == why


# --- 3. bounds: threads, connections, slow clients ---------------------------------------

def test_300_idle_connections_bound_threads_and_do_not_delay_beats(write_config, daemon, tmp_path):
    platform = Platform()
    port = refused_port()
    sockets: list[socket.socket] = []
    try:
        proc = daemon(write_config(config_text(platform.url, port, "api_idle_timeout: 2\n")))
        proc.wait_log("local API on")
        pid = proc.proc.pid
        wait_for(lambda: len(platform.first_tries()) >= 3, 10)
        assert requests.get(f"http://{HOST}:{port}/status", timeout=5).status_code == 200
        threads_before, rss_before = rawhttp.threads_of(pid), rawhttp.rss_kib(pid)
        beats_before = len(platform.first_tries())

        peak = {"threads": threads_before, "rss": rss_before}
        sampling = threading.Event()

        def sample():
            while not sampling.wait(0.1):
                peak["threads"] = max(peak["threads"], rawhttp.threads_of(pid))
                peak["rss"] = max(peak["rss"], rawhttp.rss_kib(pid))

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            started = time.monotonic()
            for _ in range(300):
                sockets.append(rawhttp.connect(HOST, port))
            connect_time = time.monotonic() - started
            # A real request now waits its turn behind them in the listen backlog: served
            # once the idle ones before it are closed (2 s idle timeout, 100 at a time).
            asked = time.monotonic()
            assert requests.get(f"http://{HOST}:{port}/status", timeout=20).status_code == 200
            waited = time.monotonic() - asked
            time.sleep(max(0.0, 6 - waited))
        finally:
            sampling.set()
            sampler.join()
        peak_threads, peak_rss = peak["threads"], peak["rss"]
        starts = platform.first_tries()[beats_before - 1:]
        print(f"\n300 idle connections: connected in {connect_time:.2f}s; threads "
              f"{threads_before} -> {peak_threads}; RSS {rss_before / 1024:.1f} -> "
              f"{peak_rss / 1024:.1f} MiB; a request waited {waited:.1f}s")
        assert peak_threads <= threads_before, (threads_before, peak_threads)
        assert peak_rss - rss_before < 2048, (rss_before, peak_rss)  # KiB
        assert connect_time < 2.0 and waited < 12
        assert len(starts) >= 6
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert all(abs(g - 1.0) < 0.2 for g in gaps), gaps  # the beats stayed on time
        # The server closed them all (2 s idle), 100 at a time.
        assert all(rawhttp.closed_within(s, 0.5) is not None for s in sockets[:100])
        for sock in sockets:
            sock.close()
        sockets.clear()

        started = time.monotonic()
        for _ in range(500):
            sockets.append(rawhttp.connect(HOST, port))
        assert time.monotonic() - started < 2.0
        for sock in sockets:
            sock.close()
        sockets.clear()
        assert wait_for(lambda: requests.get(f"http://{HOST}:{port}/status", timeout=20), 20)
        log = proc.log()
        print(f"connection limit warnings: {log.count('reached the connection limit')}")
        assert log.count("total open connections reached the connection limit") < 20, log
        assert proc.terminate()[0] == 0
    finally:
        for sock in sockets:
            sock.close()
        platform.close()


def test_slow_clients_are_disconnected_within_the_idle_timeout(api):
    # One sends a byte every 4 s (quiet longer than the 2 s timeout), the other a byte
    # every 0.5 s (never quiet for long, but its request is still unfinished 2 s on).
    request = rawhttp.request("GET", "/status")
    clients = {"quiet": (rawhttp.connect(HOST, api.port), 4.0),
               "trickle": (rawhttp.connect(HOST, api.port), 0.5)}
    closed: dict[str, float] = {}
    sent = dict.fromkeys(clients, 0)
    try:
        started = time.monotonic()
        while len(closed) < 2 and time.monotonic() - started < 8:
            now = time.monotonic() - started
            for name, (sock, every) in clients.items():
                if name in closed:
                    continue
                sock.settimeout(0)
                try:
                    if sock.recv(1) == b"":
                        closed[name] = now
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    closed[name] = now
                    continue
                if now >= sent[name] * every:
                    sock.sendall(request[sent[name]:sent[name] + 1])
                    sent[name] += 1
            time.sleep(0.02)
        # Both are closed 2 s after their first byte, give or take the once-a-second sweep
        # (the quiet one) or the time to the next byte (the trickling one).
        assert 1.9 < closed.get("quiet", 99) < 3.5, closed
        assert 1.9 < closed.get("trickle", 99) < 3.5, closed
        assert sent["quiet"] == 1 and sent["trickle"] < 9, sent
    finally:
        for sock, _ in clients.values():
            sock.close()


# --- 4. chunked bodies ------------------------------------------------------------------

def test_chunked_bodies_are_accepted_and_bounded(api):
    device = json.dumps({"url": "127.0.0.41", "name": "chunked", "probe": "none"}).encode()
    with rawhttp.connect(HOST, api.port) as sock:
        sock.sendall(rawhttp.request("POST", "/devices", rawhttp.chunked(device, 7),
                                     {"Transfer-Encoding": "chunked", **auth(api)})
                     + rawhttp.request("GET", "/devices"))  # kept alive after it
        (status, headers, body), (listed, _, devices) = rawhttp.read_answers(sock, 2)
    added = json.loads(body)
    check_response("POST", "/devices", status, headers["content-type"], added)
    assert status == 201 and added["name"] == "chunked" and "connection" not in headers
    assert listed == 200 and "127.0.0.41" in [d["url"] for d in json.loads(devices)]
    requests.delete(f"http://{HOST}:{api.port}/devices/{added['id']}", headers=auth(api),
                    timeout=5)

    big = json.dumps({"config_dict": {"x": "a" * 70000}}).encode()
    raw, closed, _ = rawhttp.talk(HOST, api.port, rawhttp.request(
        "POST", "/sophon/v2/face/setconfigs", rawhttp.chunked(big, 4096),
        {"Transfer-Encoding": "chunked"}))
    body = assert_error_answer(raw, 413, closed)
    assert body["error"] == "body over the limit of 65536 bytes"
    check_response("POST", "/sophon/v2/face/setconfigs", 413, "application/json", body)


# --- HEAD, keep-alive, Expect ------------------------------------------------------------

@pytest.mark.parametrize("path", ["/status", "/metrics", "/openapi.yaml", "/devices",
                                  "/sophon/v2/face/getconfigs"])
def test_head_answers_the_gets_headers_without_a_body(api, path):
    got = requests.get(f"http://{HOST}:{api.port}{path}", timeout=5)
    with rawhttp.connect(HOST, api.port) as sock:
        sock.sendall(rawhttp.request("HEAD", path) + rawhttp.request("HEAD", path))
        raw, closed = rawhttp.read_until_closed(sock, 1.0)
    assert not closed  # kept alive
    answers = rawhttp.answers(raw, head=True)
    assert len(answers) == 2 and raw.endswith(b"\r\n\r\n")  # headers only, twice
    status, headers, _ = answers[0]
    assert status == 200 and headers["content-type"] == got.headers["Content-Type"]
    if path not in ("/status", "/metrics"):  # these change from one moment to the next
        assert int(headers["content-length"]) == len(got.content)


def test_head_on_a_path_without_get_is_405(api):
    raw, closed, _ = rawhttp.talk(HOST, api.port, rawhttp.request("HEAD", "/sophon/v2/face/setconfigs"))
    [(status, headers, body)] = rawhttp.answers(raw, head=True)
    assert (status, headers["allow"], body, closed) == (405, "POST", b"", False)


def test_keep_alive_serves_requests_in_turn(api):
    with rawhttp.connect(HOST, api.port) as sock:
        sock.sendall(rawhttp.request("GET", "/status?x=1")
                     + rawhttp.request("POST", "/sophon/v2/face/getconfigs",
                                       b'{"config_name": "WEB_HEART_TIME"}')
                     + rawhttp.request("GET", "/nowhere", headers={"Connection": "close"}))
        raw, closed = rawhttp.read_until_closed(sock, 5.0)
    got = rawhttp.answers(raw)
    assert [g[0] for g in got] == [200, 200, 404] and closed
    assert json.loads(got[1][2]) == {"WEB_HEART_TIME": 1}
    assert got[2][1]["connection"] == "close" and "connection" not in got[0][1]
    for (status, headers, body), (method, path) in zip(got, [
            ("GET", "/status"), ("POST", "/sophon/v2/face/getconfigs"), ("GET", "/nowhere")]):
        check_response(method, path, status, headers["content-type"], json.loads(body))


def test_http_1_0_closes_after_one_answer(api):
    raw, closed, _ = rawhttp.talk(HOST, api.port, b"GET /status HTTP/1.0\r\n\r\nGET /status HTTP/1.0\r\n\r\n")
    assert len(rawhttp.answers(raw)) == 1 and closed


def test_expect_100_continue_is_answered_at_once(api):
    with rawhttp.connect(HOST, api.port) as sock:
        body = b'{"config_name": "WEB_HEART_TIME"}'
        started = time.monotonic()
        sock.sendall(rawhttp.request("POST", "/sophon/v2/face/getconfigs", headers={
            "Expect": "100-continue", "Content-Length": str(len(body))}))
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        assert time.monotonic() - started < 0.5
        sock.sendall(body)
        [(status, _, answer)] = rawhttp.read_answers(sock)
    assert (status, json.loads(answer)) == (200, {"WEB_HEART_TIME": 1})


def test_encoded_slashes_in_a_device_key_still_route(api):
    from urllib.parse import quote
    url = "rtsp://127.0.0.42:9/ch1"
    requests.post(f"http://{HOST}:{api.port}/devices", json={"url": url, "probe": "none"},
                  headers=auth(api), timeout=5)
    shown = requests.get(f"http://{HOST}:{api.port}/devices/" + quote(url, safe=""), timeout=5)
    assert shown.status_code == 200 and shown.json()["url"] == url
    assert requests.delete(f"http://{HOST}:{api.port}/devices/" + quote(url, safe=""),
                           headers=auth(api), timeout=5).status_code == 200


# --- 5. IPv6; the port taken ------------------------------------------------------------

@pytest.mark.parametrize("host", ["'::1'", "'[::1]'"])
def test_api_on_ipv6_loopback(write_config, daemon, host):
    port = refused_port()
    proc = daemon(write_config(config_text("http://127.0.0.1:9/x", port, f"api_host: {host}\n")))
    log = proc.wait_log("local API on")
    assert f"local API on http://[::1]:{port}/" in log
    answer = requests.get(f"http://[::1]:{port}/status", timeout=5)
    check_response("GET", "/status", answer.status_code, answer.headers["Content-Type"], answer.json())
    assert answer.status_code == 200
    with pytest.raises(requests.ConnectionError):  # IPv6 only
        requests.get(f"http://127.0.0.1:{port}/status", timeout=5)
    assert proc.terminate()[0] == 0


def test_port_taken_logs_and_beats_on(write_config, daemon):
    platform = Platform()
    taken = socket.socket()
    try:
        taken.bind((HOST, 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = daemon(write_config(config_text(platform.url, port)))
        log = proc.wait_log("local API not started")
        assert f"cannot listen on 127.0.0.1 port {port}: Address already in use (heartbeats go on)" in log
        count = len(wait_for(lambda: len(platform.arrivals) >= 2 and platform.arrivals, 10))
        time.sleep(1.5)
        assert len(platform.arrivals) > count
        assert proc.terminate()[0] == 0
    finally:
        taken.close()
        platform.close()


def test_reload_moves_the_api_and_frees_the_old_port(write_config, daemon):
    old, new = refused_port(), refused_port()
    path = write_config(config_text("http://127.0.0.1:9/x", old))
    proc = daemon(path)
    proc.wait_log("local API on")
    write_config(config_text("http://127.0.0.1:9/x", new))
    proc.wait_log(f"local API on http://127.0.0.1:{new}/")
    assert requests.get(f"http://{HOST}:{new}/status", timeout=5).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{HOST}:{old}/status", timeout=5)
    assert proc.terminate()[0] == 0


def test_waitress_loads_only_with_the_api(tmp_path):
    """The API (and waitress with it) is imported when it starts, not before."""
    import subprocess
    import sys
    code = ("import sys, sereport.cli, sereport.service.daemon; "
            "print(sorted(m for m in sys.modules if m.startswith(('waitress', 'sereport.httpd', "
            "'sereport.service.api'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=dict(os.environ)).stdout
    assert out.strip() == "[]"
