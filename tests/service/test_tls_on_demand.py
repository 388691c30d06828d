"""No OpenSSL in a daemon without an HTTPS target (lean.load_http), and a reload that
brings one starts the daemon again, as the same process, with TLS."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import textwrap

import pytest

from peers import Platform
from procs import wait_for

LICENCE = "ZKZCPI000120190807142601"


def openssl_mapped(pid: int | str) -> bool:
    with open(f"/proc/{pid}/maps") as maps:
        return any("libssl" in line or "libcrypto" in line for line in maps)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A certificate for 127.0.0.1, its own CA."""
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(d / "key.pem"), "-out", str(d / "cert.pem"), "-subj", "/CN=platform",
                    "-days", "2", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return d


@pytest.fixture
def platforms(tls_files):
    """A platform over plain HTTP and one over HTTPS (its certificate: tls_files)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls_files / "cert.pem"), str(tls_files / "key.pem"))
    plain, secure = Platform(), Platform(tls_context=context)
    yield plain, secure
    plain.close()
    secure.close()


def start_plain(write_config, daemon, tls_files, plain, extra):
    """A daemon reporting to ``plain`` (its first beat arrived) that trusts tls_files."""
    path = write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: {plain.url}\nWEB_HEART_TIME: 1\n"
                        f"tls_ca_file: {tls_files / 'cert.pem'}\n{extra}")
    proc = daemon(path)
    wait_for(lambda: plain.arrivals, 10)
    return path, proc


def test_an_https_target_reloaded_in_starts_the_daemon_again_with_tls(write_config, daemon,
                                                                       tls_files, platforms):
    plain, secure = platforms
    path, proc = start_plain(write_config, daemon, tls_files, plain,
                             "offline_beat_on_stop: false\n")
    dynamic = openssl_mapped("self")  # this Python's OpenSSL is a shared library
    if dynamic:
        assert not openssl_mapped(proc.proc.pid)  # http only: no OpenSSL loaded
    text = open(path).read().replace(plain.url, secure.url)
    with open(path, "w") as handle:
        handle.write(text)
    log = proc.wait_log("starting again", timeout=10)
    assert "an HTTPS target, and this process loaded no TLS" in log
    wait_for(lambda: secure.arrivals, 15)  # the same process, now with TLS
    assert proc.proc.poll() is None
    assert secure.arrivals[0][2]["dev_sno"] == LICENCE
    if dynamic:
        assert openssl_mapped(proc.proc.pid)
    code, _ = proc.terminate()
    assert code == 0
    assert proc.log().count("sereport 0") >= 2  # two starts, one process


def test_without_tls_the_stack_still_hashes_and_speaks_http(tmp_path):
    """lean.load_http(tls=False) in a fresh interpreter: hashlib and hmac work (Python's
    own digests), http.client has no HTTPS, and ssl can still be imported afterwards."""
    script = tmp_path / "look.py"
    script.write_text(textwrap.dedent("""
        import sys
        from sereport import lean
        assert lean.load_http(tls=False) is False and not lean.tls_available()
        import hashlib, hmac
        import http.client
        assert not hasattr(http.client, "HTTPSConnection")
        assert "_hashlib" not in sys.modules and "_ssl" not in sys.modules
        assert hashlib.sha256(b"x").hexdigest().startswith("2d711642")
        assert hmac.new(b"k", b"x", hashlib.sha256).hexdigest().startswith("c38edc88")
        import prometheus_client  # it imports urllib.request's HTTPSHandler by name
        import ssl  # a probe of an rtsps camera still can
        assert lean.load_http(tls=True) is False  # imported once: it stays as it is
        print("ok")
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(
                              __import__("pathlib").Path(__file__).resolve().parents[2])})
    assert done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize("urls, environ, needed", [
    (["http://p/x"], {}, False),
    (["http://p/x", "HTTPS://p/y"], {}, True),
    (["http://p/x"], {"HTTPS_PROXY": "http://proxy:3128"}, False),
    (["http://p/x"], {"http_proxy": "https://proxy:3128"}, True),
    (["http://p/x"], {"ALL_PROXY": " https://proxy"}, True),
    (["http://p/x"], {"NO_PROXY": "https://p"}, False),
])
def test_when_tls_is_needed(urls, environ, needed):
    from sereport import lean

    assert lean.tls_needed(urls, environ) is needed


def test_an_api_override_in_force_loads_no_openssl(write_config, daemon):
    """config.load checks each override's digest of the file's value before the daemon
    chooses its HTTP stack: that digest must not load OpenSSL (sereport.digests)."""
    from sereport import config
    from sereport.config import overrides

    if not openssl_mapped("self"):
        pytest.skip("this Python's OpenSSL is linked in: nothing to see in /proc/PID/maps")
    platform = Platform()
    try:
        path = write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: {platform.url}\n"
                            "WEB_HEART_TIME: 5\noffline_beat_on_stop: false\n")
        raw = config.read_file(path)
        under = overrides.digest(overrides.fold(raw), "WEB_HEART_TIME")
        overrides.write(config.overrides_path_of(raw),
                        [overrides.Override("WEB_HEART_TIME", 1, overrides.now(), under)])
        assert config.load(path).interval == 1  # the override is in force
        proc = daemon(path)
        wait_for(lambda: len(platform.arrivals) >= 2, 10)  # a second a beat: the override's
        assert not openssl_mapped(proc.proc.pid)
        assert proc.terminate()[0] == 0
    finally:
        platform.close()


def test_setconfigs_bringing_https_is_answered_then_the_process_starts_again(
        write_config, daemon, tls_files, platforms):
    import requests

    from sereport import config

    plain, secure = platforms
    path, proc = start_plain(write_config, daemon, tls_files, plain, "api_token: t0ken-for-tests\n")
    port = config.load(path).api_port
    answer = requests.post(f"http://127.0.0.1:{port}/sophon/v2/face/setconfigs",
                           json={"config_dict": {"WEB_HEART_URL": secure.url}},
                           headers={"Authorization": "Bearer t0ken-for-tests"}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"result": "ok", "changed": ["WEB_HEART_URL"]}
    proc.wait_log("starting again", timeout=10)
    wait_for(lambda: secure.arrivals, 15)
    assert proc.proc.poll() is None  # the same process
    before = len(plain.arrivals)
    code, _ = proc.terminate()
    assert code == 0
    assert "offline beat to" in proc.log()  # at the real stop, to the new target ...
    assert len(plain.arrivals) == before  # ... and none at the start again, to the old
    assert all(a[2]["gateway_status"] == "online" for a in plain.arrivals)


def test_a_stop_signal_pending_across_the_exec_stops_the_new_process(write_config, tmp_path):
    """Daemon._exec_again execs with the stop signals blocked (a SIGTERM after its last
    look stays pending): the new process takes them once its handlers are in."""
    import procs

    platform = Platform()
    try:
        path = write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: {platform.url}\n"
                            "WEB_HEART_TIME: 1\noffline_beat_on_stop: false\n")
        launcher = tmp_path / "launch.py"
        launcher.write_text(textwrap.dedent("""
            import os, signal, sys
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
            os.kill(os.getpid(), signal.SIGTERM)  # pending, as at _exec_again's exec
            os.execv(sys.argv[1], sys.argv[1:])
        """))
        err = tmp_path / "stderr"
        with open(err, "w") as handle:
            done = subprocess.run([sys.executable, str(launcher), *procs.command(), "--config",
                                   path, "run"], stderr=handle, timeout=30, env=procs.env())
        log = err.read_text()
        assert done.returncode == 0, log
        assert "SIGTERM received: stopping" in log
    finally:
        platform.close()


def test_own_command_line_is_the_one_the_kernel_started(tmp_path):
    code = "from sereport.service.daemon import own_command_line; print(own_command_line())"
    done = subprocess.run([sys.executable, "-B", "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == repr([sys.executable, "-B", "-c", code]), done.stderr
