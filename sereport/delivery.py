"""POSTing report documents to the platform.

Every document goes to every URL at the same time, each POST on a worker
thread, and the beat waits for them no longer than its deadline (before the
next grid slot).  A failed POST (no connection, no answer, 5xx, 408, 429) is
retried within the same beat with capped exponential backoff and full
jitter, only while time remains; the next beat sends fresh state, never a
replay.  A POST still stuck from an earlier beat is not joined by another to
the same place, so threads never pile up behind a platform that hangs.

Reasons are written here, never copied from exception texts, which carry
the URL and any credentials in it.  HTTPS verifies certificates (system CAs
or ``tls_ca_file``); redirects are never followed, so nothing falls back to
plain HTTP.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass

import requests

from sereport import __version__
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
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _errno_of(exc: BaseException) -> int | None:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno:
            return exc.errno
        for arg in getattr(exc, "args", ()):
            if isinstance(arg, BaseException):
                found = _errno_of(arg)
                if found:
                    return found
        exc = getattr(exc, "reason", None) or exc.__cause__ or exc.__context__
    return None


def reason_of(exc: requests.RequestException, timeouts: tuple[float, float]) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return f"no connection within {timeouts[0]:.3g}s"
    if isinstance(exc, requests.ReadTimeout):
        return f"no answer within {timeouts[1]:.3g}s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error (certificate not trusted, or not a TLS server)"
    code = _errno_of(exc)
    if code == errno.ECONNREFUSED:
        return "connection refused"
    if code in (errno.ECONNRESET, errno.EPIPE):
        return "connection reset"
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "host unreachable"
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        if "Name or service not known" in text or "getaddrinfo" in text:
            return "host name not found"
        if "RemoteDisconnected" in text or "closed connection" in text:
            return "connection closed without an answer"
        return "connection failed"
    return type(exc).__name__


class Sender:
    def __init__(self, cfg: Config, rng: random.Random | None = None):
        self.timeouts = cfg.timeouts
        self.verify: bool | str = cfg.tls_ca_file or True
        self.cert = ((cfg.tls_client_cert, cfg.tls_client_key) if cfg.tls_client_key
                     else cfg.tls_client_cert or None)
        self.headers = {**BASE_HEADERS, **dict(cfg.http_headers)}
        self.hmac_secret = cfg.hmac_secret
        self.hmac_header = cfg.hmac_header
        self.rng = rng or random.Random()
        self._local = threading.local()  # one requests.Session per worker thread
        self._pool: ThreadPoolExecutor | None = None
        self._workers = 0
        self._in_flight: dict[tuple[str, str], Future] = {}

    # --- one POST ------------------------------------------------------------

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.trust_env = False  # no proxy or netrc from the environment
        return session

    def post(self, url: str, fmt: str, body: bytes,
             timeouts: tuple[float, float] | None = None) -> Result:
        timeouts = timeouts or self.timeouts
        headers = dict(self.headers)
        if self.hmac_secret:
            headers[self.hmac_header] = signature(self.hmac_secret, body)
        shown = redact_url(url)
        started = time.monotonic()
        try:
            response = self._session().post(url, data=body, headers=headers, timeout=timeouts,
                                            allow_redirects=False, verify=self.verify,
                                            cert=self.cert)
            response.close()
        except requests.RequestException as exc:
            return Result(shown, fmt, False, reason_of(exc, timeouts),
                          elapsed=time.monotonic() - started)
        ok = 200 <= response.status_code < 300
        reason = f"HTTP {response.status_code}" + (f" {response.reason}" if response.reason else "")
        return Result(shown, fmt, ok, reason, response.status_code, time.monotonic() - started)

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
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
