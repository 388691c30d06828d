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
    look stays pending): the new process takes them once its handlers are in, and stops
    before any probe, API or beat.  (It waited for a first probe cycle that never came,
    probe_timeout + 0.5 s, here 20.5, and then started the API.)  No offline report: no
    device had been probed, and it would have called the camera offline."""
    import procs
    from peers import HangingServer

    platform, camera = Platform(), HangingServer()
    try:
        path = write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: {platform.url}\n"
                            "WEB_HEART_TIME: 1\nprobe_timeout: 20\ndevices:\n"
                            f"  - url: rtsp://127.0.0.1:{camera.port}/x\n")
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
        assert "local API on" not in log  # nothing started
        assert "no offline report: stopped before the devices were first probed" in log
        assert platform.arrivals == []
    finally:
        platform.close()
        camera.close()


# --- _exec_again in this process, os.execv stood in for --------------------------------

@pytest.fixture
def idle_daemon(write_config, tmp_path):
    """A Daemon that is not running, its signal handlers in this process (put back after),
    petting a watchdog through a notify socket of the test's."""
    import signal
    import socket

    from sereport import config
    from sereport.service.daemon import Daemon
    from sereport.service.notify import Notifier

    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(0)
    cfg = config.load(write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: http://127.0.0.1:9/\n"))
    daemon = Daemon(cfg, Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify"),
                                   "WATCHDOG_USEC": "30000000"}))
    daemon.install_signals()
    daemon.notified = lambda: [m.decode().split("\n")[0]  # the first line of each message
                               for m in iter(lambda: _recv(notify), None)]
    try:
        yield daemon
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
        daemon.reporter.close()
        daemon.notifier.close()
        notify.close()


def _recv(sock):
    try:
        return sock.recv(4096)
    except BlockingIOError:
        return None


class Calls(list):
    env: dict = {}


def stand_in_exec(monkeypatch, during=None):
    """os.execve replaced: what it was called with and what the thread had blocked and
    pending then; it fails (ENOEXEC) so that _exec_again returns."""
    import errno
    import signal

    calls = Calls()

    def execve(path, argv, env):
        calls.env = env
        if during:
            during()
        calls.append((path, argv, signal.pthread_sigmask(signal.SIG_BLOCK, []),
                      signal.sigpending()))
        raise OSError(errno.ENOEXEC, "stood in for")
    monkeypatch.setattr(os, "execve", execve)
    return calls


def test_the_exec_is_of_the_own_command_line_with_stop_signals_blocked_after_a_pet(
        idle_daemon, monkeypatch, caplog):
    import signal

    from sereport.service.daemon import own_command_line
    from sereport.sigmask import STOP_SIGNALS

    calls = stand_in_exec(monkeypatch)
    idle_daemon.notified()
    assert idle_daemon._start_again("test", idle_daemon.cfg) is False and idle_daemon.stop.is_set()
    idle_daemon._exec_again()
    [(path, argv, blocked, pending)] = calls
    assert (path, argv) == (sys.executable, own_command_line())
    assert STOP_SIGNALS <= set(blocked) and not pending
    assert idle_daemon.notified() == ["WATCHDOG=1"]  # its last word before the exec
    assert "cannot start again" in caplog.text
    assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # put back


def test_a_stop_taken_first_calls_the_start_again_off(idle_daemon, monkeypatch):
    import signal

    calls = stand_in_exec(monkeypatch)
    signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
    assert idle_daemon._start_again("test", idle_daemon.cfg) is False and not idle_daemon._again
    idle_daemon._again = "raced in"  # as if _start_again had set it just after the handler
    idle_daemon.notified()
    assert idle_daemon._shutdown([]) == 0  # the usual stop, not a failed start again
    assert calls == [] and idle_daemon.stop.is_set()
    assert idle_daemon.notified() == ["RELOADING=1", "STOPPING=1"]


def test_a_stop_while_the_loops_end_for_a_start_again_is_a_stop(idle_daemon, monkeypatch,
                                                                   caplog):
    """RELOADING=1 went to systemd; then STOPPING=1, and the offline report."""
    import logging
    import signal

    caplog.set_level(logging.INFO)

    class Loop:  # a loop thread taking its time to end, while the SIGTERM comes
        def join(self, timeout):
            signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)

    calls = stand_in_exec(monkeypatch)
    idle_daemon._start_again("test", idle_daemon.cfg)
    idle_daemon.notified()
    assert idle_daemon._shutdown([Loop()]) == 0 and calls == []
    assert idle_daemon.notified() == ["RELOADING=1", "STOPPING=1"]
    assert "offline beat to http://127.0.0.1:9/" in caplog.text


def test_a_stop_handled_after_the_last_look_is_left_pending_for_the_new_process(
        idle_daemon, monkeypatch):
    """The kernel delivered the SIGTERM before the signals were blocked; Python runs its
    handler only after _exec_again has looked: the handler sends it again, blocked, so it
    is pending at the exec (and the new process takes it)."""
    import signal

    handler = signal.getsignal(signal.SIGTERM)
    calls = stand_in_exec(monkeypatch, during=lambda: handler(signal.SIGTERM, None))
    idle_daemon._start_again("test", idle_daemon.cfg)
    idle_daemon._exec_again()  # the stand-in fails: the pending SIGTERM is handled here
    [(_, _, _, pending)] = calls
    assert signal.SIGTERM in pending
    assert not idle_daemon._again and not idle_daemon._exec_armed
    assert signal.SIGTERM not in signal.sigpending()


def test_own_command_line_is_the_one_the_kernel_started(tmp_path):
    code = "from sereport.service.daemon import own_command_line; print(own_command_line())"
    done = subprocess.run([sys.executable, "-B", "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == repr([sys.executable, "-B", "-c", code]), done.stderr


def test_only_a_start_again_gives_the_api_answers_a_grace(idle_daemon, monkeypatch):
    """A stop signal ends the API at once (the daemon stops within 2 s, README); a start
    again lets the answer to the setconfigs that led to it go out."""
    from sereport.service.daemon import API_GRACE

    graces = []

    class Api:
        def stop(self, grace):
            graces.append(grace)

    stand_in_exec(monkeypatch)
    idle_daemon.api = Api()
    idle_daemon._start_again("test", idle_daemon.cfg)
    assert idle_daemon._shutdown([]) == 1  # the stand-in exec failed
    idle_daemon.api, idle_daemon._again = Api(), ""  # a daemon where a stop came
    idle_daemon.stop.set()
    assert idle_daemon._shutdown([]) == 0
    assert graces == [API_GRACE, 0.0]


def test_the_wait_for_the_first_probe_cycle_pets_the_watchdog_and_ends_at_a_stop(idle_daemon):
    import time

    idle_daemon.notified()
    idle_daemon._await_first_cycle(time.monotonic() + 0.6)  # no cycle comes: not running
    assert idle_daemon.notified().count("WATCHDOG=1") >= 2
    idle_daemon.stop.set()
    idle_daemon._await_first_cycle(time.monotonic() + 600)  # returns at once
    assert idle_daemon.notified() == []


def test_the_exec_hands_over_the_config_it_validated(idle_daemon, monkeypatch):
    """The new process reads the file again; if it was saved broken meanwhile, it runs
    this one (config/handover.py; tests/config/test_handover.py)."""
    from dataclasses import replace

    from sereport.config import handover

    new = replace(idle_daemon.cfg, urls=("https://127.0.0.1:9/x",))
    seen = {}

    def take_it():  # in the stand-in exec, before _exec_again closes what failed to cross
        fd = os.dup(int(calls.env[handover.ENV]))
        monkeypatch.setenv(handover.ENV, str(fd))
        seen["cfg"] = handover.take()

    calls = stand_in_exec(monkeypatch, during=take_it)
    idle_daemon._start_again("test", new)
    idle_daemon._exec_again()
    assert seen["cfg"] == new
    assert not handover_open(int(calls.env[handover.ENV]))  # the exec failed: closed


def handover_open(fd: int) -> bool:
    from sereport.config import handover

    try:
        return os.readlink(f"/proc/self/fd/{fd}") == f"/memfd:{handover.NAME} (deleted)"
    except OSError:
        return False


def test_a_reload_bringing_https_starts_again_with_the_config_it_read(idle_daemon, write_config,
                                                                       monkeypatch):
    from sereport import lean

    monkeypatch.setattr(lean, "tls_available", lambda: False)  # as in a daemon without TLS
    write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: https://127.0.0.1:9/secure\n")
    assert idle_daemon.reload("file changed") is False
    assert idle_daemon._again == "file changed" and idle_daemon.stop.is_set()
    assert idle_daemon._again_cfg.urls == ("https://127.0.0.1:9/secure",)
