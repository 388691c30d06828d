"""POSTing report documents to the platform.

Every document goes to every URL at the same time, each POST on a worker
thread, and the beat waits for them no longer than its deadline (before the
next grid slot).  A failed POST (no connection, no answer, 5xx, 408, 429) is
retried within the same beat with capped exponential backoff and full
jitter, only while time remains; the next beat sends fresh state, never a
replay.  A POST still stuck from an earlier beat is not joined by another to
the same place, so threads never pile up behind a platform that hangs.

HTTP is sereport.report.httpclient: a connection is kept alive per worker thread
and target, with a connect timeout and a read timeout.
Reasons are written here, never copied from exception texts, which may carry
the URL.  HTTPS verifies certificates (system CAs or ``tls_ca_file``);
redirects are never followed, so nothing falls back to plain HTTP; no proxy
is taken from the environment.
"""

from __future__ import annotations

import errno
import json
import queue
import random
import socket
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from urllib.parse import urlsplit

from sereport import __version__
from sereport.report import httpclient
from sereport.config import Config
from sereport.redact import redact_url

BASE_HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "User-Agent": f"sereport/{__version__}",
}
BACKOFF_BASE = 0.25  # seconds before the first retry, at most (full jitter)
BACKOFF_CAP = 2.0
MIN_ATTEMPT = 0.1  # a retry needs at least this much time left
RETRY_STATUS = {408, 429}
MAX_ANSWER = 64 * 1024  # answer bodies are read (to keep the connection) up to this


@dataclass(frozen=True)
class Result:
    url: str  # redacted, fit for a log line
    format: str
    ok: bool
    reason: str  # "HTTP 200 OK", "connection refused", "no answer within 4s", ...
    status: int | None = None
    elapsed: float = 0.0
    attempts: int = 1

    @property
    def retryable(self) -> bool:
        return not self.ok and (self.status is None or self.status >= 500
                                or self.status in RETRY_STATUS)


def encode(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    """The signature header value: sha256=<hex HMAC-SHA256 of the body>."""
    import hashlib
    import hmac

    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class _Failure(Exception):
    """A POST that failed, with the reason to report."""


def reason_of(exc: BaseException, phase: str, timeouts: tuple[float, float]) -> str:
    """A short reason for a failure while connecting or waiting for the answer."""
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return (f"no connection within {timeouts[0]:.3g}s" if phase == "connect"
                else f"no answer within {timeouts[1]:.3g}s")
    ssl = sys.modules.get("ssl")  # loaded only for an https:// place
    if ssl is not None and isinstance(exc, ssl.SSLError):
        return "TLS error (certificate not trusted, or not a TLS server)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "connection reset"
    if isinstance(exc, httpclient.NoAnswer):
        return "connection closed without an answer"
    if isinstance(exc, httpclient.HTTPError):
        return "not an HTTP answer"
    if isinstance(exc, socket.gaierror):
        return "host name not found"
    if isinstance(exc, OSError):
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "host unreachable"
        return exc.strerror or "connection failed"
    return type(exc).__name__


class Sender:
    def __init__(self, cfg: Config, rng: random.Random | None = None):
        self.timeouts = cfg.timeouts
        self.headers = {**BASE_HEADERS, **dict(cfg.http_headers)}
        self.hmac_secret = cfg.hmac_secret
        self.hmac_header = cfg.hmac_header
        self.rng = rng or random.Random()
        self._tls_files = (cfg.tls_ca_file, cfg.tls_client_cert, cfg.tls_client_key)
        self._tls = None  # an ssl.SSLContext, made at the first https:// POST
        self._local = threading.local()  # kept-alive connections, per worker thread
        self._all: list[httpclient.Connection] = []
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._workers = 0
        self._in_flight: dict[tuple[str, str], Future] = {}

    # --- one POST ------------------------------------------------------------

    def _tls_context(self):
        import ssl

        with self._lock:
            if self._tls is None:
                ca_file, cert, key = self._tls_files
                self._tls = ssl.create_default_context(cafile=ca_file or None)
                if cert:
                    self._tls.load_cert_chain(cert, key or None)
            return self._tls

    def _connection(self, parts) -> tuple[httpclient.Connection, bool]:
        """A kept-alive connection to this place and whether it was used before."""
        cache = getattr(self._local, "connections", None)
        if cache is None:
            cache = self._local.connections = {}
        key = (parts.scheme, parts.hostname, parts.port)
        conn = cache.get(key)
        if conn is not None:  # closed ones connect again: one object per place and thread
            return conn, conn.sock is not None
        tls = self._tls_context() if parts.scheme == "https" else None
        conn = httpclient.Connection(parts.hostname, parts.port, tls)
        cache[key] = conn
        with self._lock:
            self._all.append(conn)
        return conn, False

    def _exchange(self, parts, body: bytes, headers: dict,
                  timeouts: tuple[float, float]) -> tuple[int, str]:
        conn, reused = self._connection(parts)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        phase = "connect"
        try:
            if conn.sock is None:
                conn.connect(timeouts[0])
            conn.sock.settimeout(timeouts[1])
            phase = "answer"
            return conn.post(target, body, headers, MAX_ANSWER)
        except (OSError, httpclient.HTTPError) as exc:
            conn.close()
            stale = reused and isinstance(exc, (httpclient.NoAnswer, ConnectionResetError,
                                                BrokenPipeError))
            if stale:  # the platform closed a kept-alive connection: once more, afresh
                return self._exchange(parts, body, headers, timeouts)
            raise _Failure(reason_of(exc, phase, timeouts)) from None

    def post(self, url: str, fmt: str, body: bytes,
             timeouts: tuple[float, float] | None = None) -> Result:
        timeouts = timeouts or self.timeouts
        headers = dict(self.headers)
        if self.hmac_secret:
            headers[self.hmac_header] = signature(self.hmac_secret, body)
        shown = redact_url(url)
        started = time.monotonic()
        try:
            status, reason = self._exchange(urlsplit(url), body, headers, timeouts)
        except _Failure as failure:
            return Result(shown, fmt, False, str(failure), elapsed=time.monotonic() - started)
        ok = 200 <= status < 300
        text = f"HTTP {status}" + (f" {reason}" if reason else "")
        return Result(shown, fmt, ok, text, status, time.monotonic() - started)

    def _attempts(self, url: str, fmt: str, body: bytes, deadline: float) -> Result:
        """POST, and retry while the beat has time left."""
        attempt, result = 0, None
        connect, read = self.timeouts
        while True:
            attempt += 1
            left = max(MIN_ATTEMPT, deadline - time.monotonic())
            this_connect = min(connect, left / 2)
            result = self.post(url, fmt, body, (this_connect, min(read, left - this_connect)))
            delay = self.rng.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))
            if not result.retryable or deadline - time.monotonic() - delay < MIN_ATTEMPT:
                break
            time.sleep(delay)
        return Result(result.url, fmt, result.ok, result.reason, result.status,
                      result.elapsed, attempt)

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
        pool = self._executor(2 * posts)
        wait_futures([pool.submit(time.sleep, 0.001) for _ in range(posts)])

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
        # Room for a new POST to every place, and for the ones still stuck.
        pool = self._executor(2 * len(jobs))
        futures: list[Future | Result] = []
        for url, fmt, body in jobs:
            stuck = self._in_flight.get((url, fmt))
            if stuck is not None and not stuck.done():
                futures.append(Result(redact_url(url), fmt, False,
                                      "the previous POST there has not ended yet", attempts=0))
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
        if self._pool is not None:
            pool, self._pool = self._pool, None
            # shutdown(cancel_futures=True) is 3.9+: drop the queued POSTs by hand.
            while True:
                try:
                    pool._work_queue.get_nowait().future.cancel()
                except (queue.Empty, AttributeError):
                    break
            pool.shutdown(wait=False)
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
