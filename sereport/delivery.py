"""POSTing report documents to the platform.

Every request has a connect and a read timeout that together stay below
the beat interval; a failure becomes a ``Result`` with a short reason and
never an exception.  Reasons are written here, never copied from the
exception text, which would carry the URL and any credentials in it.
"""

from __future__ import annotations

import errno
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

from sereport import __version__
from sereport.redact import redact_url

HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "User-Agent": f"sereport/{__version__}",
}


@dataclass(frozen=True)
class Result:
    url: str  # redacted, fit for a log line
    format: str
    ok: bool
    reason: str  # "HTTP 200", "connection refused", "no answer within 4s", ...
    status: int | None = None
    elapsed: float = 0.0


def encode(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


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
        return f"no connection within {timeouts[0]:g}s"
    if isinstance(exc, requests.ReadTimeout):
        return f"no answer within {timeouts[1]:g}s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error"
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
    def __init__(self, timeouts: tuple[float, float]):
        self.timeouts = timeouts
        self._sessions: dict[str, requests.Session] = {}
        self._pool: ThreadPoolExecutor | None = None

    def _session(self, url: str) -> requests.Session:
        session = self._sessions.get(url)
        if session is None:
            session = self._sessions[url] = requests.Session()
            session.trust_env = False  # no proxy from the environment on a box
        return session

    def post(self, url: str, fmt: str, body: bytes) -> Result:
        shown = redact_url(url)
        started = time.monotonic()
        try:
            response = self._session(url).post(url, data=body, headers=HEADERS,
                                               timeout=self.timeouts, allow_redirects=False)
            response.close()
        except requests.RequestException as exc:
            return Result(shown, fmt, False, reason_of(exc, self.timeouts),
                          elapsed=time.monotonic() - started)
        ok = 200 <= response.status_code < 300
        reason = f"HTTP {response.status_code}" + (f" {response.reason}" if response.reason else "")
        return Result(shown, fmt, ok, reason, response.status_code, time.monotonic() - started)

    def send(self, urls: tuple[str, ...], docs: list[tuple[str, dict]]) -> list[Result]:
        """Every document to every URL, at the same time; results in order."""
        jobs = [(url, fmt, encode(doc)) for url in urls for fmt, doc in docs]
        if len(jobs) <= 1:
            return [self.post(*job) for job in jobs]
        if self._pool is None or self._pool._max_workers < len(jobs):
            if self._pool is not None:
                self._pool.shutdown(wait=False)
            self._pool = ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="post")
        return list(self._pool.map(lambda job: self.post(*job), jobs))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
