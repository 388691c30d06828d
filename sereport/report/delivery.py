"""POSTing report documents to the platform, over ``requests``.

Every document goes to every URL at the same time, each POST on a worker
thread, and the beat waits for them no longer than its deadline (before the
next grid slot).  A failed POST (no connection, no answer, 5xx, 408, 429) is
retried within the same beat with capped exponential backoff and full
jitter, only while time remains; the next beat sends fresh state, never a
replay.  A POST still stuck from an earlier beat is not joined by another to
the same place, so threads never pile up behind a platform that hangs.

HTTP is one ``requests.Session`` per Sender: connections are pooled and kept
alive between beats (an ``HTTPAdapter`` sized to the targets), URLs are
IRIs (a non-ASCII path is percent-encoded, a non-ASCII host goes out in
IDNA form), and ``HTTP_PROXY``, ``HTTPS_PROXY`` and ``NO_PROXY`` are taken
from the environment.  HTTPS verifies certificates (``tls_ca_file``, else
the system's CA store, else requests' own), with an optional client
certificate; redirects are never followed, so nothing falls back to plain
HTTP, and a certificate that fails is not tried again within the beat.

Deadlines: requests' timeouts bound the connection and each read, not the
whole answer.  So every POST also has a total deadline (its connect and read
timeouts together), watched by a timer that shuts the connection's socket
down when it passes: a platform trickling its answer a byte at a time, or
sending endless header lines or ``100 Continue``, costs that time and no
more.  The body is read (so the connection can be kept) only up to
``MAX_ANSWER`` and only when its length is known.

An answer that arrived is never POSTed again: once the head of an answer is
whole, its status decides (a body that breaks off or never ends only costs
the connection); once its status line arrived, a failure is not retried.
Reasons are written here, never copied from exception texts, which carry the
URL (and a proxy's credentials).
"""

from __future__ import annotations

import errno
import heapq
import http.client
import itertools
import os
import queue
import random
import re
import socket
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlsplit

from sereport.lean import requests_without_charset_detection

requests = requests_without_charset_detection()
import urllib3  # noqa: E402 - after requests, as it was imported
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth
from requests.utils import get_auth_from_url, get_environ_proxies, select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from sereport import __version__
from sereport.config import Config
from sereport.redact import redact_url
from sereport.report.payload import encode

BASE_HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "User-Agent": f"sereport/{__version__}",
}
BACKOFF_BASE = 0.25  # seconds before the first retry, at most (full jitter)
BACKOFF_CAP = 2.0
MIN_ATTEMPT = 0.1  # a retry needs at least this much time left
RETRY_STATUS = {408, 429}
MAX_ANSWER = 64 * 1024  # answer bodies are read (to keep the connection) up to this
MAX_INTERIM = 20  # 1xx answers before the final one
STALE_AGAIN = 2  # a kept-alive connection found dead: POST again at once, this often
SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"  # Debian's; platforms' private CAs go there
SHOWN = 120  # characters of a status text or a Location shown in a reason


@dataclass(frozen=True)
class Result:
    url: str  # redacted, fit for a log line
    format: str
    ok: bool
    reason: str  # "HTTP 200 OK", "connection refused", "no answer within 4s", ...
    status: int | None = None
    elapsed: float = 0.0
    attempts: int = 1
    final: bool = False  # a failure another attempt cannot mend (TLS, an answer that arrived)

    @property
    def retryable(self) -> bool:
        return not self.ok and not self.final and (self.status is None or self.status >= 500
                                                   or self.status in RETRY_STATUS)


def backoff_bound(attempt: int) -> float:
    """The longest wait after try ``attempt`` (the wait is uniform up to it: full jitter).
    The exponent is capped: 2 ** 1024 is no float, and a beat may see that many tries."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempt - 1, 30))


def signature(secret: str, body: bytes) -> str:
    """The signature header value: sha256=<hex HMAC-SHA256 of the body>."""
    import hashlib
    import hmac

    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _shown(text: str) -> str:
    """Text from the platform, fit for one log line."""
    text = "".join(ch if ch.isprintable() else "?" for ch in text.strip())
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


# --- the deadline of one POST ---------------------------------------------------------

_LOCK = threading.Lock()
_local = threading.local()  # .watch: the _Watch of the POST this thread is making


class _Deadlines:
    """One thread fires every POST's deadline (a threading.Timer per POST would start a
    thread per POST: most of a beat's CPU with no devices)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, at: float, watch: _Watch) -> None:
        with self._cond:
            earliest = not self._heap or at < self._heap[0][0]
            heapq.heappush(self._heap, (at, next(self._seq), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="post-deadlines",
                                                daemon=True)
                self._thread.start()
            if earliest:  # else the thread already wakes in time for it
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2].finished:
                        heapq.heappop(self._heap)
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        watch = heapq.heappop(self._heap)[2]
                        break
                    self._cond.wait(self._heap[0][0] - now if self._heap else None)
            watch.fire()


_DEADLINES = _Deadlines()


class _Watch:
    """One POST's total deadline, and what the connection hooks saw of it.

    At the deadline the sockets this POST uses are shut down, which wakes
    the thread blocked reading them.  Each socket is watched through a
    duplicate of its descriptor: that reaches a TLS socket in its handshake
    too, and is never a descriptor the system has given to someone else.
    """

    def __init__(self, seconds: float):
        self.fired = False  # the deadline passed before the POST ended
        self.sent = False  # the request went out whole
        self.reused = False  # on a connection kept from an earlier POST
        self.status: tuple[int, str] | None = None  # a final status line that arrived
        self.head = False  # the answer's head arrived whole
        self.interim = 0
        self.broken = ""  # a reason the hooks gave
        self._done = False
        self._socks: list[tuple[object, socket.socket]] = []
        self._seconds = max(seconds, 0.0)

    @property
    def finished(self) -> bool:
        return self._done

    def start(self) -> None:
        _local.watch = self
        _DEADLINES.add(time.monotonic() + self._seconds, self)

    def guard(self, conn, sock) -> None:
        """Watch the socket ``conn`` uses now for this POST."""
        with _LOCK:
            if self._done:
                return
            conn._sereport_watch = self
            if any(c is conn for c, _ in self._socks):
                return  # its socket is watched already (a TLS one, since its handshake)
            try:
                dup = socket.fromfd(sock.fileno(), sock.family, sock.type)
            except (OSError, ValueError):
                return
            self._socks.append((conn, dup))
            if self.fired:
                _shut(dup)

    def fire(self) -> None:
        with _LOCK:
            if self._done:
                return
            self.fired = True
            for conn, dup in self._socks:
                if getattr(conn, "_sereport_watch", None) is self:  # not yet another POST's
                    _shut(dup)

    def head_done(self) -> bool:
        """The answer's head arrived; False when the deadline came first."""
        with _LOCK:
            self.head = not self.fired
            return self.head

    def finish(self) -> None:
        with _LOCK:
            self._done = True
            socks, self._socks = self._socks, []
            for conn, dup in socks:
                if getattr(conn, "_sereport_watch", None) is self:
                    conn._sereport_watch = None
                dup.close()
        if getattr(_local, "watch", None) is self:
            _local.watch = None


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _watch() -> _Watch | None:
    return getattr(_local, "watch", None)


class _Response(http.client.HTTPResponse):
    """Notes each status line of an answer to a request that went out."""

    def _read_status(self):
        version, status, reason = super()._read_status()
        watch = _watch()
        if watch is not None and watch.sent:  # not a proxy's answer to CONNECT
            if status != http.client.CONTINUE:  # the only interim answer http.client skips
                watch.status = (status, reason.strip())
            else:
                watch.interim += 1
                if watch.interim > MAX_INTERIM:
                    watch.broken = f"more than {MAX_INTERIM} interim (1xx) answers"
                    raise http.client.HTTPException("too many interim answers")
        return version, status, reason


class _Hooks:
    """urllib3 connections that put their sockets under the POST's watch."""

    response_class = _Response

    def _new_conn(self):
        sock = super()._new_conn()
        watch = _watch()
        if watch is not None:
            watch.guard(self, sock)
        return sock

    def request(self, *args, **kwargs):
        watch = _watch()
        if watch is not None:
            sock = self.sock
            watch.reused = sock is not None and sock is getattr(self, "_sereport_used", None)
            if sock is not None:
                watch.guard(self, sock)
        super().request(*args, **kwargs)
        self._sereport_used = self.sock
        if watch is not None:
            watch.sent = True


class _HTTPConnection(_Hooks, HTTPConnection):
    pass


class _HTTPSConnection(_Hooks, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _Adapter(HTTPAdapter):
    """requests' adapter, with the watched connections, also through a proxy."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _POOLS
        return manager


def _no_auth(request):
    """Credentials only from the URL: never from ~/.netrc."""
    return request


# --- reasons ----------------------------------------------------------------------------

def _deadline_reason(last: str, longest: str) -> str:
    """A retry cut short by the beat's deadline times out within what was left of it
    ("no answer within 0.113s"); the deadline that really applied is the one of the attempt
    that waited longest, of the same kind."""
    kind, sep, _ = last.partition(" within ")
    return longest if sep and longest.startswith(kind + " within ") else last


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and every exception it wraps (causes, contexts, arguments)."""
    found: list[BaseException] = []
    todo = [exc]
    while todo:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or any(e is f for f in found):
            continue
        found.append(e)
        todo += [getattr(e, "reason", None), e.__cause__, e.__context__, *e.args]
    return found


def reason_of(exc: BaseException, timeouts: tuple[float, float], sent: bool = False,
              tls: bool = False) -> str:
    """A short reason for a POST that got no answer; never the exception's text.

    ``sent``: the request went out whole; ``tls``: over https (before ``sent``, a read
    that timed out was the TLS handshake's, bounded by the connect timeout).
    """
    chain = _chain(exc)

    def has(*types) -> bool:
        return any(isinstance(e, types) for e in chain)

    tunnel = next((m.group(1) for e in chain if isinstance(e, OSError) and e.args
                   for m in [re.match(r"Tunnel connection failed: (\d{3})", str(e.args[0]))]
                   if m), None)
    if tunnel:
        return f"tunnel refused (HTTP {tunnel})"
    ssl = sys.modules.get("ssl")  # not imported without TLS (lean.load_http): no TLS errors
    if ssl is not None and has(ssl.SSLCertVerificationError):
        cert = next(e for e in chain if isinstance(e, ssl.SSLCertVerificationError))
        detail = _shown(cert.verify_message) if isinstance(cert.verify_message, str) else ""
        return "TLS error: certificate not trusted" + (f" ({detail})" if detail else "")
    if has(*((ssl.SSLError,) if ssl is not None else ()), requests.exceptions.SSLError,
           urllib3.exceptions.SSLError):
        return "TLS error (not a TLS server, or the TLS handshake failed)"
    if has(requests.exceptions.ConnectTimeout):
        return f"no connection within {timeouts[0]:.3g}s"
    if has(requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError):
        return (f"no TLS handshake within {timeouts[0]:.3g}s" if tls and not sent
                else f"no answer within {timeouts[1]:.3g}s")
    if has(socket.timeout, TimeoutError):
        return (f"no answer within {timeouts[1]:.3g}s" if sent
                else f"no connection within {timeouts[0]:.3g}s")
    if has(ConnectionRefusedError):
        return "connection refused"
    if has(socket.gaierror, getattr(urllib3.exceptions, "NameResolutionError", socket.gaierror)):
        return "host name not found"
    if has(http.client.RemoteDisconnected):
        return "connection closed without an answer"
    if has(ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return "connection reset"
    if has(http.client.LineTooLong):
        return "answer line too long"
    if has(http.client.HTTPException, urllib3.exceptions.InvalidHeader):
        return "not an HTTP answer"
    if has(requests.exceptions.InvalidHeader):
        return "invalid request header"
    if has(requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
           requests.exceptions.MissingSchema, urllib3.exceptions.LocationValueError, UnicodeError):
        return "invalid URL"
    for e in chain:
        if isinstance(e, OSError) and isinstance(e.errno, int) and e.errno > 0:
            if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                return "host unreachable"
            return os.strerror(e.errno)
    if has(http.client.HTTPException, urllib3.exceptions.ProtocolError):
        return "connection broken"
    return "connection failed"


class _Answer:
    """What one exchange came to."""

    def __init__(self, ok: bool, reason: str, status: int | None = None, final: bool = False,
                 stale: bool = False):
        self.ok, self.reason, self.status, self.final, self.stale = ok, reason, status, final, stale


class Sender:
    def __init__(self, cfg: Config, rng: random.Random | None = None):
        self.timeouts = cfg.timeouts
        self.headers = {**BASE_HEADERS, **dict(cfg.http_headers)}
        self.hmac_secret = cfg.hmac_secret
        self.hmac_header = cfg.hmac_header
        self.rng = rng or random.Random()
        if cfg.tls_ca_file:
            self._verify: bool | str = cfg.tls_ca_file
        else:
            self._verify = SYSTEM_CA if os.path.isfile(SYSTEM_CA) else True
        self._cert = None
        if cfg.tls_client_cert:
            self._cert = ((cfg.tls_client_cert, cfg.tls_client_key) if cfg.tls_client_key
                          else cfg.tls_client_cert)
        self._session = self._new_session(cfg)
        self._lock = threading.Lock()
        self._watches: set[_Watch] = set()
        self._closed = False
        self._pool: ThreadPoolExecutor | None = None
        self._workers = 0
        self._in_flight: dict[tuple[str, str], Future] = {}
        self._proxy_map: dict[str, dict] = {}
        self._templates: dict[str, requests.PreparedRequest] = {}  # url -> its prepared POST
        self._sending = threading.Lock()

    @staticmethod
    def _new_session(cfg: Config) -> requests.Session:
        session = requests.Session()
        # Proxies come from the environment, read once per URL (_proxies), not at every
        # POST: requests would walk the whole environment twice per request.
        session.trust_env = False
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # stateless POSTs
        # Pools: one per place; room in each for every POST of a beat and as many stuck
        # ones (through a proxy, all places share the proxy's pool).
        places = {(p.scheme, p.hostname, p.port) for p in map(urlsplit, cfg.urls)}
        posts = max(1, len(cfg.urls) * len(cfg.formats))
        adapter = _Adapter(pool_connections=max(1, len(places)), pool_maxsize=2 * posts)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    # --- one POST ------------------------------------------------------------

    def _auth(self, url: str):
        user, password = get_auth_from_url(url)
        return HTTPBasicAuth(user, password) if user or password else _no_auth

    def _request(self, url: str, body: bytes, headers: dict) -> requests.PreparedRequest:
        """The POST of ``body`` to ``url``.  requests prepares a URL's request once (the IRI
        percent-encoded, the host in IDNA form, the URL's credentials, the headers); each
        POST is a copy of it with its own body and headers: preparing it afresh was a third
        of a POST's CPU.  A URL requests cannot prepare raises here, every time."""
        template = self._templates.get(url)
        if template is None:
            template = self._session.prepare_request(requests.Request(
                "POST", url, headers=self.headers, auth=self._auth(url)))
            self._templates[url] = template
        request = template.copy()
        request.headers.update(headers)
        request.body = body
        request.headers["Content-Length"] = str(len(body))
        return request

    def _proxies(self, url: str) -> dict:
        """HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY for ``url``, as every tool on the
        box reads them (requests' own reading, done once per URL)."""
        found = self._proxy_map.get(url)
        if found is None:
            try:
                found = get_environ_proxies(url)
            except Exception:  # noqa: BLE001 - a URL requests cannot parse fails at POST
                found = {}
            self._proxy_map[url] = found
        return found

    def _proxy_of(self, url: str) -> str:
        """The proxy a POST to ``url`` goes through, redacted; '' for none."""
        try:
            proxy = select_proxy(url, self._proxies(url))
        except Exception:  # noqa: BLE001 - only for a reason's wording
            return ""
        return redact_url(proxy) if proxy else ""

    def _exchange(self, url: str, body: bytes, headers: dict, timeouts: tuple[float, float],
                  until: float) -> _Answer:
        watch = _Watch(until - time.monotonic())
        with self._lock:
            if self._closed:
                return _Answer(False, "stopped")
            self._watches.add(watch)
        watch.start()
        response = None
        try:
            try:
                response = self._session.send(
                    self._request(url, body, headers), timeout=timeouts, allow_redirects=False,
                    stream=True, verify=self._verify, cert=self._cert, proxies=self._proxies(url))
            except Exception as exc:  # noqa: BLE001 - every failure becomes a reason
                return self._failed(url, exc, watch, timeouts)
            if not watch.head_done():  # cut off by the deadline: a head that never ended
                return self._failed(url, None, watch, timeouts)
            _drain(response)
            return self._answered(response)
        finally:
            watch.finish()
            if response is not None:
                response.close()  # a connection not read to the end of its answer is closed
            with self._lock:
                self._watches.discard(watch)

    def _failed(self, url: str, exc: BaseException | None, watch: _Watch,
                timeouts: tuple[float, float]) -> _Answer:
        if watch.fired:
            why = f"no whole answer within {sum(timeouts):.3g}s"
        elif watch.broken:
            why = watch.broken
        else:
            why = (reason_of(exc, timeouts, watch.sent, url.lower().startswith("https:"))
                   if exc is not None else "connection failed")
        if watch.status is not None:  # the platform has the POST: never again
            code, text = watch.status
            shown = f"HTTP {code}" + (f" {_shown(text)}" if text else "")
            return _Answer(False, f"answer cut short after {shown}: {why}", code, final=True)
        if exc is not None and any(isinstance(e, (requests.exceptions.ProxyError,
                                                   urllib3.exceptions.ProxyError))
                                   for e in _chain(exc)):
            proxy = self._proxy_of(url)
            why = f"proxy {proxy}: {why}" if proxy else f"proxy: {why}"
        stale = (watch.reused and not watch.fired and exc is not None and any(
            isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError))
            for e in _chain(exc)))
        final = why.startswith("TLS error") or why == "invalid URL"
        return _Answer(False, why, final=final, stale=stale)

    @staticmethod
    def _answered(response) -> _Answer:
        status = response.status_code
        text = f"HTTP {status}" + (f" {_shown(response.reason)}" if response.reason else "")
        if 300 <= status < 400 and response.headers.get("Location"):
            text += f", redirect to {_shown(redact_url(response.headers['Location']))} not followed"
        return _Answer(200 <= status < 300, text, status)

    def post(self, url: str, fmt: str, body: bytes,
             timeouts: tuple[float, float] | None = None) -> Result:
        """One POST, within its connect and read timeouts together."""
        timeouts = timeouts or self.timeouts
        headers = {}  # the body's own, over the URL's (_request)
        if self.hmac_secret:
            headers[self.hmac_header] = signature(self.hmac_secret, body)
        started = time.monotonic()
        until = started + sum(timeouts)
        for _ in range(1 + STALE_AGAIN):
            answer = self._exchange(url, body, headers, timeouts, until)
            if not answer.stale or until - time.monotonic() < MIN_ATTEMPT:
                break  # a kept-alive connection the platform had closed: once more, afresh
        return Result(redact_url(url), fmt, answer.ok, answer.reason, answer.status,
                      time.monotonic() - started, final=answer.final)

    def _attempts(self, url: str, fmt: str, body: bytes, deadline: float) -> Result:
        """POST, and retry while the beat has time left."""
        attempt, result, longest = 0, None, None
        connect, read = self.timeouts
        while True:
            attempt += 1
            left = max(MIN_ATTEMPT, deadline - time.monotonic())
            this_connect = min(connect, left / 2)
            result = self.post(url, fmt, body, (this_connect, min(read, left - this_connect)))
            if longest is None or result.elapsed > longest.elapsed:
                longest = result
            delay = self.rng.uniform(0, backoff_bound(attempt))
            if (not result.retryable or self._closed
                    or deadline - time.monotonic() - delay < MIN_ATTEMPT):
                break
            time.sleep(delay)
        return Result(result.url, fmt, result.ok, _deadline_reason(result.reason, longest.reason),
                      result.status, result.elapsed, attempt, result.final)

    # --- a beat --------------------------------------------------------------

    def _executor(self, needed: int) -> ThreadPoolExecutor:
        if self._pool is None or self._workers < needed:
            if self._pool is not None:
                self._pool.shutdown(wait=False)
            self._workers = max(needed, 2)
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="post")
        return self._pool

    def warm(self, posts: int) -> None:
        """Start the worker threads a beat of ``posts`` POSTs needs, ahead of the first beat."""
        pool = self._executor(3 * posts)
        if posts < 1:
            return
        # Each waits for all the others, so each gets a thread of its own.
        everyone = threading.Barrier(posts)
        wait_futures([pool.submit(everyone.wait, 2.0) for _ in range(posts)], timeout=3.0)

    def send(self, urls: tuple[str, ...], docs: list[tuple[str, dict]],
             deadline: float | None = None, tick=None, tick_every: float | None = None
             ) -> list[Result]:
        """Every document to every URL at once; results in order, by the deadline.

        ``tick`` is called every ``tick_every`` seconds while waiting (the
        watchdog pet: the beat is waiting on bounded work, not stuck).
        """
        if deadline is None:
            deadline = time.monotonic() + sum(self.timeouts)
        jobs = [(url, fmt, encode(doc)) for url in urls for fmt, doc in docs]
        futures: list[Future | Result] = []
        with self._sending:  # a beat's and an event report's sends may overlap
            # Room for a beat's POSTs, an event report's, and the ones still stuck.
            pool = self._executor(3 * len(jobs))
            for url, fmt, body in jobs:
                stuck = self._in_flight.get((url, fmt))
                if stuck is not None and not stuck.done():
                    futures.append(Result(redact_url(url), fmt, False,
                                          "the previous POST there has not ended yet",
                                          attempts=0))
                    continue
                future = pool.submit(self._attempts, url, fmt, body, deadline)
                self._in_flight[(url, fmt)] = future
                futures.append(future)
        pending = [f for f in futures if isinstance(f, Future)]
        until = deadline + 0.25
        while pending and time.monotonic() < until:
            step = until - time.monotonic()
            _, not_done = wait_futures(pending, timeout=min(step, tick_every) if tick_every else step)
            pending = list(not_done)
            if tick is not None:
                tick()
        results = []
        for (url, fmt, _), item in zip(jobs, futures):
            if isinstance(item, Result):
                results.append(item)
            elif item.done():
                results.append(item.result())
            else:
                results.append(Result(redact_url(url), fmt, False, "no answer before the beat's deadline"))
        return results

    def close(self) -> None:
        """Stop: queued POSTs are dropped, and the ones under way end at once."""
        with self._lock:
            self._closed = True
            watches = list(self._watches)
        for watch in watches:
            watch.fire()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            # shutdown(cancel_futures=True) is 3.9+: drop the queued POSTs by hand.
            while True:
                try:
                    pool._work_queue.get_nowait().future.cancel()
                except (queue.Empty, AttributeError):
                    break
            pool.shutdown(wait=False)
        self._session.close()


def _drain(response) -> bool:
    """Read the answer's body, if its length is known and small, so the connection can be
    kept; True when it was read whole.  A body that runs to the close, or breaks off, or
    outlasts the deadline (the watch shuts the socket) is left: the connection is closed."""
    raw = response.raw
    if not getattr(raw, "chunked", False) and getattr(raw, "length_remaining", None) is None:
        return False  # the body runs to the close: nothing to keep
    if (getattr(raw, "length_remaining", None) or 0) > MAX_ANSWER:
        return False
    total = 0
    try:
        while True:
            chunk = raw.read(16384, decode_content=False)
            if not chunk:
                return True
            total += len(chunk)
            if total > MAX_ANSWER:
                return False
    except Exception:  # noqa: BLE001 - a broken body costs the connection, nothing more
        return False
