"""Loopback peers the tests start themselves: an HTTP sink that records
what it is sent and can answer slowly or with any status, and raw TCP
servers that refuse, accept and hang, or never accept."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HttpSink:
    """POSTs are recorded as (monotonic time, path, headers, parsed body)."""

    def __init__(self, status: int = 200, delay: float = 0.0):
        self.status = status
        self.delay = delay
        self.received: list[tuple[float, str, dict, object]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = body
                sink.received.append((time.monotonic(), self.path, dict(self.headers), parsed))
                time.sleep(sink.delay)
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/DeviceStatus"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class HangingServer:
    """Accepts connections (or, with accept=False, leaves them in the backlog)
    and never answers."""

    def __init__(self, accept: bool = True):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024 if accept else 0)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = False
        self._thread = None
        if accept:
            self._thread = threading.Thread(target=self._accept, daemon=True)
            self._thread.start()

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        """Stop listening at once. (Closing the socket alone would not: a thread blocked
        in accept() keeps the listener alive in the kernel until a connection arrives,
        and the freed descriptor number can be reused under it. shutdown() wakes it.)"""
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(5)
        self.sock.close()
        for conn in self.conns:
            conn.close()


def accept_each(sock: socket.socket, handle, on_accept=None) -> None:
    """Accept connections until ``sock`` is closed, each handled on a thread of its own
    (``on_accept(conn)`` first, in the accepting thread)."""
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        if on_accept is not None:
            on_accept(conn)
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def refused_port() -> int:
    """A loopback port with nobody listening."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --- peers for the probes ----------------------------------------------------------

import os  # noqa: E402
import shutil  # noqa: E402
import ssl  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

PEERS_BIN = Path(__file__).parent / "peers_bin"
SYSTEM_PYTHON = "/usr/bin/python3"


def need(available: bool, what: str) -> None:
    """Skip a test whose peer is missing, but fail in CI, which must have every peer."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing in CI: tests/run-all.sh should have installed it")
    pytest.skip(f"{what} is not installed (bash tests/run-all.sh installs it as root)")


def gst_rtsp_available() -> bool:
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    check = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    return subprocess.run([SYSTEM_PYTHON, "-c", check], capture_output=True).returncode == 0


class Subprocess:
    """A peer program; stopped (killed if need be) by close()."""

    def __init__(self, args: list[str], ready: str | None = None, timeout: float = 15.0):
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE if ready else subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
        if ready is not None:
            deadline = time.monotonic() + timeout
            line = ""
            while time.monotonic() < deadline:
                line = self.proc.stdout.readline()
                if not line or ready in line:
                    break
            if ready not in line:
                self.close()
                raise RuntimeError(f"{args[:2]} did not start: {line!r}")
            # Keep reading what it prints, so a full pipe never blocks it.
            threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class GstRtspServer(Subprocess):
    """Debian's GStreamer RTSP server on loopback; auth: none, basic or digest."""

    def __init__(self, auth: str = "none", user: str = "admin", password: str = "pa:ss@1",
                 host: str = "127.0.0.1"):
        need(gst_rtsp_available(), "GStreamer RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0)")
        if ":" in host:
            need_ipv6_loopback()
        self.port = free_port(host=host)
        args = [SYSTEM_PYTHON, str(PEERS_BIN / "rtsp_server.py"), str(self.port), "/cam", auth]
        if auth != "none":
            args += [user, password]
        if host != "127.0.0.1":
            args.append(f"--address={host}")
        super().__init__(args, ready="READY")
        self.host = f"[{host}]" if ":" in host else host
        self.base = f"rtsp://{self.host}:{self.port}"


class SippOptionsPeer(Subprocess):
    """sipp answering SIP OPTIONS with 200 OK over UDP on loopback."""

    def __init__(self):
        need(shutil.which("sipp") is not None, "sipp (sip-tester)")
        self.port = free_udp_port()
        super().__init__(["sipp", "-sf", str(PEERS_BIN / "sipp_options_uas.xml"), "-i", "127.0.0.1",
                          "-p", str(self.port), "-nostdin"])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not udp_port_bound(self.port):
            time.sleep(0.05)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def udp_port_bound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


class SilentUdp:
    """A UDP port that receives and never answers (on host: 127.0.0.1, or ::1)."""

    def __init__(self, host: str = "127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                                  socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


class LineServer:
    """A TCP server answering each request head with a fixed reply chosen by
    ``reply(request_text) -> bytes`` (None: close); with ``tls`` a certificate made on the
    spot; with ``close_after`` the connection is closed after each reply."""

    def __init__(self, reply, tls_dir: Path | None = None, close_after: bool = False,
                 host: str = "127.0.0.1"):
        self.reply = reply
        self.close_after = close_after
        self.requests: list[str] = []
        self.accepted = 0
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.context = None
        if tls_dir is not None:
            cert, key = self_signed(tls_dir)
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(cert, key)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        accept_each(self.sock, self._handle, self._count)

    def _count(self, _conn) -> None:
        self.accepted += 1

    def _handle(self, conn):
        try:
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True)
            conn.settimeout(5)
            data = b""
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
                while b"\r\n\r\n" in data:
                    head, _, data = data.partition(b"\r\n\r\n")
                    text = head.decode("latin-1")
                    length = next((int(line.split(":", 1)[1]) for line in text.split("\r\n")
                                   if line.lower().startswith("content-length:")), 0)
                    while len(data) < length:
                        data += conn.recv(4096)
                    body, data = data[:length], data[length:]
                    self.requests.append(text + "\r\n\r\n" + body.decode("latin-1"))
                    answer = self.reply(self.requests[-1])
                    if answer is None:
                        return
                    conn.sendall(answer)
                    if self.close_after:
                        return
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self):
        try:  # wakes the accepting thread: the port stops listening now (see HangingServer)
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def self_signed(directory: Path) -> tuple[str, str]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    if not cert.exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        str(key), "-out", str(cert), "-subj", "/CN=camera.test", "-days", "2"],
                       check=True, capture_output=True)
    return str(cert), str(key)


class Platform:
    """A heartbeat platform on a fixed loopback port whose behaviour the test
    switches: ok (200), error (500), slow (200 after ``delay``), hang (accept,
    never answer) or refuse (not listening).  Every request that arrives is
    recorded as (monotonic time, mode, parsed body, headers)."""

    def __init__(self, tls_context=None):
        self.port = refused_port()
        self.mode = "ok"
        self.delay = 0.3
        self.tls_context = tls_context
        self.arrivals: list[tuple[float, str, object, dict]] = []
        self.listener = None
        self.conns: set = set()
        self.accepted = 0
        self._listen()

    def _listen(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(64)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _stop_listening(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked on it
        except OSError:
            pass
        self.listener.close()

    def set(self, mode: str) -> None:
        if mode == "refuse" and self.mode != "refuse":
            self._stop_listening()
            for conn in list(self.conns):  # kept-alive connections too
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        elif mode != "refuse" and self.mode == "refuse":
            self._listen()
        self.mode = mode

    def _accept(self, listener):
        accept_each(listener, self._handle)

    def _handle(self, conn):
        self.conns.add(conn)
        self.accepted += 1
        try:
            if self.tls_context is not None:
                conn = self.tls_context.wrap_socket(conn, server_side=True)
            conn.settimeout(30)
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, data = data.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in
                           (line.partition(":") for line in lines[1:])}
                length = int(headers.get("content-length", 0))
                while len(data) < length:
                    data += conn.recv(65536)
                body, data = data[:length], data[length:]
                mode = self.mode
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = body
                self.arrivals.append((time.monotonic(), mode, parsed, headers, body))
                if mode == "hang":
                    while conn.recv(65536):
                        pass
                    return
                if mode == "slow":
                    time.sleep(self.delay)
                status = b"500 Internal Server Error" if mode == "error" else b"200 OK"
                conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")
        except (OSError, ssl.SSLError):
            pass
        finally:
            self.conns.discard(conn)
            conn.close()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}/DeviceStatus"

    def bodies(self, mode: str | None = None) -> list:
        return [a[2] for a in self.arrivals if mode is None or a[1] == mode]

    def first_tries(self) -> list[float]:
        """When each beat's first POST arrived (needs the beat_seq extension)."""
        seen, times = set(), []
        for arrived, _mode, body, _headers, _raw in self.arrivals:
            seq = body.get("beat_seq") if isinstance(body, dict) else None
            if seq is not None and seq not in seen:
                seen.add(seq)
                times.append(arrived)
        return times

    def close(self):
        if self.mode != "refuse":
            self._stop_listening()
        self.mode = "closed"


# --- IPv6 loopback peers: real servers that insist on bracketed IPv6 literals -----------

def ipv6_loopback() -> bool:
    """Whether this machine has ::1 (a container may have IPv6 off)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def need_ipv6_loopback() -> None:
    need(ipv6_loopback(), "IPv6 loopback (::1)")


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port nobody listens on now, on host (127.0.0.1 or ::1)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _wait_until(check, proc: Subprocess, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc.proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.close()
    raise RuntimeError(f"{what} did not start (exit status {proc.proc.returncode})")


def tcp_listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def udp_bound(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _program(name: str) -> str | None:
    """A daemon's path: the sbin folders are not on every user's PATH."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


SOAP_TIME = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
             "<s:Body><tds:GetSystemDateAndTimeResponse/></s:Body></s:Envelope>")


class NginxPeer(Subprocess):
    """Debian's nginx on [::1]:port, answering POST /onvif/device_service with ``status``
    (200: a SOAP answer; 401: a Digest challenge), from a minimal config in ``workdir``.
    Each request's Host header, as nginx saw it, is logged: ``hosts()``."""

    def __init__(self, workdir: Path, status: int = 200):
        program = _program("nginx")
        need(program is not None, "nginx (Debian package nginx)")
        need_ipv6_loopback()
        self.port = free_port(host="::1")
        self.workdir = workdir
        self.log = workdir / "hosts.log"
        if status == 401:
            answer = ("add_header WWW-Authenticate 'Digest realm=\"onvif\", qop=\"auth\", "
                      "nonce=\"5ccc069c403ebaf9f0171e9517f40e41\"' always; return 401;")
        else:
            answer = f"default_type application/soap+xml; return {status} '{SOAP_TIME}';"
        temp = "".join(f"  {kind}_temp_path {workdir / kind};\n"
                       for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = workdir / "nginx.conf"
        conf.write_text(
            "daemon off;\nmaster_process off;\nworker_processes 1;\n"
            f"pid {workdir / 'nginx.pid'};\nerror_log stderr warn;\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            "  log_format hosts '$http_host';\n"
            f"  access_log {self.log} hosts;\n"
            f"{temp}"
            "  server {\n"
            f"    listen [::1]:{self.port};\n"
            f"    location = /onvif/device_service {{ {answer} }}\n"
            "  }\n"
            "}\n", encoding="utf-8")
        super().__init__([program, "-e", "stderr", "-p", str(workdir), "-c", str(conf)])
        _wait_until(lambda: tcp_listening("::1", self.port), self, "nginx")

    def hosts(self) -> list[str]:
        """The Host header of each request nginx logged ('-' when it could not parse one)."""
        return self.log.read_text(encoding="utf-8").split()


class LighttpdPeer(Subprocess):
    """Debian's lighttpd on [::1]:port with mod_auth: /onvif/ wants Digest credentials, so
    the ONVIF POST gets 401 with a challenge, as from a camera that wants a login."""

    def __init__(self, workdir: Path):
        program = _program("lighttpd")
        need(program is not None, "lighttpd (Debian package lighttpd)")
        need_ipv6_loopback()
        self.port = free_port(host="::1")
        (workdir / "www").mkdir(exist_ok=True)
        (workdir / "users").write_text("admin:secret\n", encoding="utf-8")
        conf = workdir / "lighttpd.conf"
        conf.write_text(
            f'server.document-root = "{workdir / "www"}"\n'
            'server.bind = "[::1]"\n'
            f"server.port = {self.port}\n"
            'server.modules = ("mod_auth", "mod_authn_file")\n'
            f'server.pid-file = "{workdir / "lighttpd.pid"}"\n'
            f'server.upload-dirs = ("{workdir}")\n'
            'auth.backend = "plain"\n'
            f'auth.backend.plain.userfile = "{workdir / "users"}"\n'
            'auth.require = ("/onvif/" => ("method" => "digest", "realm" => "onvif", '
            '"require" => "valid-user"))\n', encoding="utf-8")
        super().__init__([program, "-D", "-f", str(conf)])
        _wait_until(lambda: tcp_listening("::1", self.port), self, "lighttpd")


class KamailioPeer(Subprocess):
    """Debian's kamailio SIP server on udp:[::1]:port, from a minimal config in ``workdir``:
    requests that fail its sanity checks are dropped, OPTIONS get 200 OK."""

    def __init__(self, workdir: Path):
        program = _program("kamailio")
        need(program is not None, "kamailio (Debian package kamailio)")
        need_ipv6_loopback()
        self.port = free_port(socket.SOCK_DGRAM, host="::1")
        conf = workdir / "kamailio.cfg"
        conf.write_text(
            "#!KAMAILIO\n"
            "debug=2\nlog_stderror=yes\nchildren=1\ndisable_tcp=yes\nauto_aliases=no\n"
            f"listen=udp:[::1]:{self.port}\n"
            'loadmodule "sl.so"\nloadmodule "sanity.so"\n'
            "request_route {\n"
            "    if (!sanity_check()) { exit; }\n"
            '    if (method == "OPTIONS") { sl_send_reply("200", "OK"); exit; }\n'
            '    sl_send_reply("405", "Method Not Allowed");\n'
            "}\n", encoding="utf-8")
        (workdir / "run").mkdir(exist_ok=True)
        super().__init__([program, "-f", str(conf), "-DD", "-E",
                          "-P", str(workdir / "kamailio.pid"), "-Y", str(workdir / "run"),
                          "-w", str(workdir)])
        _wait_until(lambda: udp_bound("::1", self.port), self, "kamailio")


# --- an RTSP camera that hangs on the authenticated DESCRIBE -----------------------------

class StallingRtspCamera(LineServer):
    """A camera as users met it: it answers OPTIONS (200) and a DESCRIBE without credentials
    (401 with a Digest challenge), then never answers the DESCRIBE with credentials.  With
    ``stall_on="DESCRIBE"`` it hangs on the first DESCRIBE already."""

    def __init__(self, stall_on: str = "DESCRIBE with credentials", host: str = "127.0.0.1"):
        self.stall_on = stall_on
        super().__init__(self._answer, host=host)

    def _answer(self, request: str) -> bytes:
        import re

        method = request.split(" ", 1)[0]
        cseq = (re.search(r"(?im)^CSeq:\s*(\d+)", request) or [None, "0"])[1]
        credentials = re.search(r"(?im)^Authorization:", request) is not None
        if method == "DESCRIBE" and (self.stall_on == "DESCRIBE" or credentials):
            return b""  # no answer, the connection left open
        if method == "DESCRIBE":
            return (f"RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\n"
                    'WWW-Authenticate: Digest realm="IP Camera", '
                    'nonce="a1b2c3d4e5f60718293a4b5c6d7e8f90"\r\n\r\n').encode()
        return (f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n"
                "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n").encode()
