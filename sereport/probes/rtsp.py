"""rtsp / rtsps: the device answers an RTSP request.

``OPTIONS`` with CSeq and User-Agent; any RTSP status line means the device
is up (a 401 too).  With credentials (in the URL or the device record) it
also sends ``DESCRIBE``, answering a Basic or Digest (MD5) challenge, so a
wrong password or path is reported as ``auth_failed`` / ``not_found`` while
the device stays online.  A camera that answered OPTIONS and then gives no
answer to a DESCRIBE before the probe timeout (some hang on the one with
credentials) stays online too, with reason ``describe_timeout``; that
connection is not kept.  The request URI is the URL as given, without its
user:password@ (an IPv6 host stays in its brackets).  rtsps does not verify
the camera's certificate: cameras use self-signed ones, and the question
here is only "is it up".

A plain RTSP connection that ends a probe well is kept for the next cycle
(``probes.kept``): the next probe asks on it, with half the probe timeout to
get an answer there, and otherwise connects afresh.
"""

from __future__ import annotations

import base64
import os
import re
import time
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from sereport.digests import md5
from sereport.probes import (USER_AGENT, Outcome, ProbeError, Settings, connect, read_head,
                             skip_body, status_code)
from sereport.redact import without_userinfo

_PARAM = re.compile(r'(\w+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]+)')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """'Digest realm="r", nonce="n"' -> ('digest', {'realm': 'r', 'nonce': 'n'})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for key, value in _PARAM.findall(rest):
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[key.lower()] = value
    return scheme.lower(), params


def _md5(text: str) -> str:
    return md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - RTSP Digest is MD5


def authorization(challenges: list[str], user: str, password: str, method: str, uri: str,
                  cnonce: str | None = None) -> str | None:
    """The Authorization header for the best challenge offered (Digest over Basic)."""
    parsed = [parse_challenge(c) for c in challenges]
    for scheme, params in parsed:
        algorithm = params.get("algorithm", "MD5").upper()
        if scheme == "digest" and algorithm == "MD5" and "nonce" in params:
            realm, nonce = params.get("realm", ""), params["nonce"]
            ha1 = _md5(f"{user}:{realm}:{password}")
            ha2 = _md5(f"{method}:{uri}")
            fields = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
            qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
            if "auth" in qops:
                cnonce = cnonce or os.urandom(8).hex()
                response = _md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
                fields += ["qop=auth", "nc=00000001", f'cnonce="{cnonce}"']
            else:
                response = _md5(f"{ha1}:{nonce}:{ha2}")
            fields.append(f'response="{response}"')
            if "opaque" in params:
                fields.append(f'opaque="{params["opaque"]}"')
            fields.append("algorithm=MD5")
            return "Digest " + ", ".join(fields)
    if any(scheme == "basic" for scheme, _ in parsed):
        token = base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
        return f"Basic {token}"
    return None


class _Session:
    __slots__ = ("stream", "uri", "user", "password", "cseq", "answered", "asking", "asked_at",
                 "spent")

    def __init__(self, stream, uri: str, user: str, password: str):
        self.stream, self.uri = stream, uri
        self.user, self.password = user, password  # what DESCRIBE is asked with
        self.cseq = 0
        self.answered = False  # an RTSP answer came on this connection in this probe
        self.asking = ""  # the request waiting for its answer, for people: "DESCRIBE"
        self.asked_at = 0.0  # when it was sent (monotonic)
        self.spent = False  # left with a request unanswered: not to be kept

    def _head(self, method: str, headers: dict) -> bytes:
        lines = [f"{method} {self.uri} RTSP/1.0", f"CSeq: {self.cseq}", f"User-Agent: {USER_AGENT}"]
        lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    def request(self, method: str, **headers: str):
        """(code, headers) of the answer."""
        self.cseq += 1
        self.asking = f"{method} with credentials" if "Authorization" in headers else method
        self.asked_at = time.monotonic()
        # The request is made in the call, not kept in a local: this frame waits for the
        # answer, and every probe of a cycle waits at once.
        yield from self.stream.write(self._head(method, headers))
        line, answer = yield from read_head(self.stream)
        code = status_code(line, "RTSP")
        self.answered = True
        self.asking = f"the rest of the answer to {self.asking}"
        yield from skip_body(self.stream, answer)
        self.asking = ""
        return code, answer


@lru_cache(maxsize=64)
def _answered(reason: str, code: int) -> Outcome:
    """The Outcome of an answer with this status code: one shared object per code (frozen),
    not one per probe, held by every result of a cycle and every device's state."""
    return Outcome(True, reason, f"RTSP {code}")


def _reason(code: int) -> str:
    if 200 <= code < 300:
        return "ok"
    if code in (401, 403):
        return "auth_failed"
    if code == 404:
        return "not_found"
    return "error_status"


def _ask(session: _Session):
    """OPTIONS, and DESCRIBE with the credentials if there are any: the Outcome."""
    user, password = session.user, session.password
    try:
        code, _ = yield from session.request("OPTIONS")
        if not user:
            return _answered("ok", code)
        code, answer = yield from session.request("DESCRIBE", Accept="application/sdp")
        if code == 401:
            header = authorization(answer.get("www-authenticate", []), user, password,
                                   "DESCRIBE", session.uri)
            if header is None:
                return Outcome(True, "auth_failed", "RTSP 401, no Basic or MD5 Digest challenge")
            code, _ = yield from session.request("DESCRIBE", Accept="application/sdp",
                                                 Authorization=header)
        return _answered(_reason(code), code)
    except ProbeError as exc:
        if exc.reason == "bad_response" and session.answered:
            # It answered OPTIONS: the device is up, the rest went wrong.
            return Outcome(True, "error_status", exc.detail)
        raise
    except TimeoutError:
        # The probe's deadline (thrown in by the engine).  A camera that answered OPTIONS is
        # up, even if it then hangs on a DESCRIBE: say so rather than call it offline.
        if not session.answered:
            raise
        session.spent = True  # an answer may still come on it: never reuse this connection
        waited = time.monotonic() - session.asked_at
        missing = (f"{session.asking} did not come" if session.asking.startswith("the rest")
                   else f"{session.asking} got no answer")
        reason = "describe_timeout" if "DESCRIBE" in session.asking else "error_status"
        return Outcome(True, reason, f"answered OPTIONS; {missing} within {waited:.1f}s")


def _where(device, tls: bool) -> tuple[str, int, str, str]:
    """(host, port, user, password) the device's record gives."""
    parts = urlsplit(device.url)
    port = device.probe_port or parts.port or (322 if tls else 554)
    user = unquote(parts.username or "") or device.username
    password = unquote(parts.password or "") if parts.password is not None else device.password
    return parts.hostname or device.ip, port, user, password


def probe(device, settings: Settings):
    tls = device.url[:6].lower() == "rtsps:"
    kept = None if tls else settings.kept
    # A kept connection is the one made for this very record: the same URL, port and
    # credentials.  The URL is taken apart only to connect afresh, so a probe on a kept
    # connection holds no parts of it while it waits (every probe of a cycle waits at once:
    # with 500 cameras, those parts were a tenth of a cycle's peak of memory).
    key = (device.id, device.url, device.probe_port, device.username, device.password)
    session = kept.take(key) if kept is not None else None
    if session is not None:  # the last cycle's connection: half the time to answer on it
        session.stream.until = time.monotonic() + settings.timeout / 2
        session.answered = False
        try:
            outcome = yield from _ask(session)
        except (ProbeError, OSError):
            session.stream.close()  # dropped, or gone quiet: ask on a new connection
        except BaseException:
            session.stream.close()
            raise
        else:
            session.stream.until = None
            return _keep_or_close(kept, key, session, outcome)
    if tls:
        from sereport.probes.tls import context
    host, port, user, password = _where(device, tls)
    stream = yield from connect(host, port, settings, context() if tls else None)
    session = _Session(stream, without_userinfo(device.url), user, password)
    try:
        outcome = yield from _ask(session)
    except BaseException:
        stream.close()
        raise
    return _keep_or_close(kept, key, session, outcome)


def _keep_or_close(kept, key: tuple, session: _Session, outcome: Outcome) -> Outcome:
    if kept is None or session.spent or session.stream.buffer or not kept.keep(key, session):
        session.stream.close()
    return outcome
