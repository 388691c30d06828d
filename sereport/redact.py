"""Keep secrets out of logs, errors and payloads.

URLs are taken apart with urllib.parse, never patched with a regular
expression, so an odd URL cannot slip a password past us.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"


def _host_port(parts) -> str:
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port is not None else host


def _split(url: str):
    try:
        return urlsplit(url)
    except ValueError:
        return None


def redact_url(url: str) -> str:
    """The URL as it may be shown to a person: password and query values masked.

    The user name stays (it helps to tell which account failed); anything
    that cannot be parsed is masked whole.
    """
    parts = _split(url)
    if parts is None:
        return MASK
    if not parts.netloc and "@" in url:  # user:pass@host/... with no scheme: no netloc parsed
        rest = redact_url("//" + url[url.rindex("@") + 1:])
        return MASK + "@" + rest[2:]
    netloc = parts.netloc
    if "@" in netloc:
        user = parts.username or ""
        hidden = f"{user}:{MASK}" if parts.password is not None else user
        netloc = f"{hidden}@{_host_port(parts)}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK) for k, _ in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def without_userinfo(url: str) -> str:
    """The URL without its user:password@ part, all else kept: what a camera is asked for."""
    parts = _split(url)
    if parts is None or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=_host_port(parts)))


def strip_credentials(url: str) -> str:
    """The URL for payloads: without its user:password@ part, query values masked
    (``?token=***``: a camera's query often carries a token), fragment dropped."""
    parts = _split(url)
    if parts is None or ("@" not in parts.netloc and not parts.query and not parts.fragment):
        return url
    netloc = _host_port(parts) if "@" in parts.netloc else parts.netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK) for k, _ in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
