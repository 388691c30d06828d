"""`sereport --once` as a real process against loopback platforms and proxies: the URLs,
proxies and certificates of issue 12, end to end."""

from __future__ import annotations

import ssl
import subprocess

from peers import refused_port, self_signed
from platforms import Proxy, Scripted, answer
from procs import start

LICENCE = "ZKZCPI000120190807142601"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def once(write_config, urls: str, env: dict | None = None, interval: float = 2):
    path = write_config(f"dev_sno: {LICENCE}\nWEB_HEART_TIME: {interval}\n"
                        f"WEB_HEART_URL: {urls}\n")
    proc = start("--config", path, "--log-level", "debug", "--once", extra_env=env)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, out, err


def test_a_url_with_a_chinese_path_and_a_space_is_sent(write_config):
    """Issue 12 #1: every beat failed with UnicodeEncodeError, and a space went out raw."""
    platform = Scripted(answer(OK))
    base = f"http://127.0.0.1:{platform.port}"
    try:
        code, out, err = once(write_config, f"'{base}/设备状态, {base}/Device Status'")
    finally:
        platform.close()
    assert code == 0, out + err
    assert sorted(h.split("\r\n")[0] for h in platform.heads) == [
        "POST /%E8%AE%BE%E5%A4%87%E7%8A%B6%E6%80%81 HTTP/1.1", "POST /Device%20Status HTTP/1.1"]
    assert f"gateway -> {base}/设备状态: ok (HTTP 200 OK)" in out


def test_a_non_ascii_host_goes_to_the_proxy_as_idna(write_config):
    """Issue 12 #2, through HTTP_PROXY: nothing is resolved or sent off loopback (the
    guard in the process would refuse it)."""
    proxy = Proxy()
    try:
        code, out, err = once(write_config, "http://设备状态.example:9528/DeviceStatus",
                              env={"HTTP_PROXY": proxy.url})
    finally:
        proxy.close()
    assert code == 0, out + err
    idna = "设备状态.example".encode("idna").decode()
    assert [h.split("\r\n")[0] for h in proxy.heads] == [
        f"POST http://{idna}:9528/DeviceStatus HTTP/1.1"]


def test_proxy_credentials_never_reach_the_output(write_config):
    """Issue 12 #3: a proxy that is down is named, its password masked."""
    down = refused_port()
    code, out, err = once(write_config, f"http://127.0.0.1:{refused_port()}/x?token=abc",
                          env={"HTTP_PROXY": f"http://box:s3cret@127.0.0.1:{down}"}, interval=1)
    assert code == 1
    assert f"proxy http://box:***@127.0.0.1:{down}: connection refused" in out
    assert f"proxy http://box:***@127.0.0.1:{down}: connection refused" in err  # the log
    assert "s3cret" not in out + err and "abc" not in out + err


def test_a_failed_certificate_check_is_one_handshake(write_config, tmp_path):
    """Issue 12 #4: it was retried 8 times within one --once."""
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    platform = Scripted(answer(OK), tls_context=context)
    try:
        code, out, err = once(write_config, platform.url, interval=5)
    finally:
        platform.close()
    assert code == 1
    assert "FAILED (TLS error: certificate not trusted" in out
    assert platform.accepted == 1 and platform.posts == 0


def test_an_answer_with_two_identical_content_lengths_is_accepted_once(write_config):
    """Issue 12 #4: it was taken as "not an HTTP answer" and POSTed again."""
    platform = Scripted(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                               b"Content-Length: 2\r\n\r\nok"))
    try:
        code, out, err = once(write_config, platform.url, interval=5)
    finally:
        platform.close()
    assert code == 0, out + err
    assert out == f"gateway -> {platform.url}: ok (HTTP 200 OK)\n"
    assert platform.posts == 1


def test_a_slow_platform_is_named_with_the_deadline_that_applied(write_config):
    """Issue 14 #17: with WEB_HEART_TIME 3 and a platform that answers in 2 s the reason was
    'no answer within 0.113s' (what the beat's deadline left of the last retry). Each POST
    had 0.8 x 3 = 2.4 s: a connect timeout of 1.2 s and a read timeout of 1.2 s."""
    from peers import Platform

    platform = Platform()
    platform.mode, platform.delay = "slow", 2.0
    try:
        code, out, err = once(write_config, platform.url, interval=3)
    finally:
        platform.close()
    assert code == 1 and len(platform.arrivals) >= 2  # retried within the beat
    assert out == f"gateway -> {platform.url}: FAILED (no answer within 1.2s)\n"
    assert f"failed after {len(platform.arrivals)} attempts: no answer within 1.2s" in err
