"""rtsp / rtsps: the device answers an RTSP request.

``OPTIONS`` with CSeq and User-Agent; any RTSP status line means the device
is up (a 401 too).  With credentials (in the URL or the device record) it
also sends ``DESCRIBE``, answering a Basic or Digest (MD5) challenge, so a
wrong password or path is reported as ``auth_failed`` / ``not_found`` while
the device stays online.  rtsps does not verify the camera's certificate:
cameras use self-signed ones, and the question here is only "is it up".
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import ssl
from urllib.parse import unquote, urlsplit

from sereport.probes import (USER_AGENT, Outcome, ProbeError, Settings, close, connect,
                             read_head, skip_body, status_code)
from sereport.redact import strip_credentials

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
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - RTSP Digest is MD5


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


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class _Session:
    def __init__(self, reader, writer, uri: str):
        self.reader, self.writer, self.uri = reader, writer, uri
        self.cseq = 0

    async def request(self, method: str, **headers: str) -> tuple[int, dict[str, list[str]]]:
        self.cseq += 1
        lines = [f"{method} {self.uri} RTSP/1.0", f"CSeq: {self.cseq}", f"User-Agent: {USER_AGENT}"]
        lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))  # small: no drain
        line, answer = await read_head(self.reader)
        code = status_code(line, "RTSP")
        await skip_body(self.reader, answer)
        return code, answer


def _reason(code: int) -> str:
    if 200 <= code < 300:
        return "ok"
    if code in (401, 403):
        return "auth_failed"
    if code == 404:
        return "not_found"
    return "error_status"


async def probe(device, settings: Settings) -> Outcome:
    parts = urlsplit(device.url)
    tls = parts.scheme.lower() == "rtsps"
    host = parts.hostname or device.ip
    port = device.probe_port or parts.port or (322 if tls else 554)
    user = unquote(parts.username or "") or device.username
    password = unquote(parts.password or "") if parts.password is not None else device.password
    uri = strip_credentials(device.url)
    reader, writer = await connect(host, port, settings, _tls_context() if tls else None)
    try:
        session = _Session(reader, writer, uri)
        code, _ = await session.request("OPTIONS")
        if not user:
            return Outcome(True, "ok", f"RTSP {code}")
        code, answer = await session.request("DESCRIBE", Accept="application/sdp")
        if code == 401:
            header = authorization(answer.get("www-authenticate", []), user, password,
                                   "DESCRIBE", uri)
            if header is None:
                return Outcome(True, "auth_failed", "RTSP 401, no Basic or MD5 Digest challenge")
            code, _ = await session.request("DESCRIBE", Accept="application/sdp",
                                            Authorization=header)
        return Outcome(True, _reason(code), f"RTSP {code}")
    except ProbeError as exc:
        if exc.reason == "bad_response" and session.cseq > 1:
            # It answered OPTIONS: the device is up, the rest went wrong.
            return Outcome(True, "error_status", exc.detail)
        raise
    finally:
        close(writer)
