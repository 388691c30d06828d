"""Keeping the daemon lean: requests without what sereport never uses of it, and
the C heap's free pages given back.

requests imports a character-set detector (charset_normalizer, or chardet) at
import, only for ``Response.text`` and ``.json()`` on answers that name no
charset; the detector and its tables cost about 3 MiB of RSS, a tenth of the
daemon's.  sereport never reads an answer's text (delivery reads the status
and drains the body).  Without a detector requests falls back to UTF-8, which
its code provides for (``Response.apparent_encoding``).  Only when requests
is not imported yet, and only for the detector; its warning that it found
none is expected, so it is silenced.

OpenSSL is the other weight: ``_hashlib`` (which ``hashlib`` and ``hmac``
use when they can) and ``_ssl`` load libcrypto and libssl, and OpenSSL 3
initialises its providers at once: 4.5 MiB of RSS on Debian 12, more than
every device of a 500-device box together.  A daemon with no HTTPS target
needs none of it: ``load_http(tls=False)`` imports the HTTP stack (requests,
urllib3, http.client, hmac) with the two blocked, so hashlib and hmac take
Python's own digests (the same results) and http.client has no HTTPS.  The
block ends there: a probe of an rtsps:// camera imports ssl as usual.  A
reload that brings the first HTTPS target starts the daemon again (the
same process, exec'd; service/daemon.py), as the stack cannot learn TLS
once imported.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Iterable, Mapping

_OPENSSL = ("_ssl", "_hashlib")


def requests_without_charset_detection():
    if "requests" not in sys.modules:
        for detector in ("charset_normalizer", "chardet"):
            sys.modules.setdefault(detector, None)  # None: "import" raises ImportError
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*character detection dependency")
            import requests
        for detector in ("charset_normalizer", "chardet"):
            if sys.modules.get(detector, 0) is None:
                del sys.modules[detector]  # others in the process may still import them
    import requests

    return requests


_TRIM: list = []  # [malloc_trim] once looked up; [None] where there is none (not glibc)


def trim() -> None:
    """Give the C heap's free pages back to the system (glibc's malloc_trim(3)).

    A beat and a probe cycle allocate and free the same few hundred KiB each
    time; glibc keeps what was freed inside its heaps, so without this the
    daemon's RSS settles about 1 MiB higher with 500 devices.  Called once
    per beat: when there is nothing to give back it costs a microsecond or two.
    """
    if not _TRIM:
        try:
            import ctypes

            _TRIM.append(ctypes.CDLL(None).malloc_trim)
        except (OSError, AttributeError, ImportError):  # musl, or no ctypes
            _TRIM.append(None)
    if _TRIM[0] is not None:
        _TRIM[0](0)


def tls_needed(urls: Iterable[str], environ: Mapping[str, str] = os.environ) -> bool:
    """Whether POSTs to ``urls`` may need TLS: an https:// URL, or a proxy spoken to over
    TLS (an https:// value of HTTP_PROXY, HTTPS_PROXY or ALL_PROXY, any case)."""
    if any(url.strip().lower().startswith("https:") for url in urls):
        return True
    return any(value.strip().lower().startswith("https:") for key, value in environ.items()
               if key.lower() in ("http_proxy", "https_proxy", "all_proxy"))


def load_http(tls: bool) -> bool:
    """Import the HTTP stack, with OpenSSL only when ``tls``; True when it speaks TLS.
    Once the stack is imported (by this or by anyone) it stays as it is."""
    if "http.client" in sys.modules or "requests" in sys.modules:
        return tls_available()
    blocked = [] if tls else [name for name in _OPENSSL if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # "import" raises ImportError: the libraries do without
    try:
        requests_without_charset_detection()
        import hashlib  # noqa: F401 - imported now, with or without OpenSSL
        import hmac  # noqa: F401
        import http.client  # noqa: F401
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    if blocked:
        _https_handler_stand_in()
    return tls_available()


def _https_handler_stand_in() -> None:
    """urllib.request (requests imports it) defines HTTPSHandler only with TLS, and some
    libraries import the name at their own import: prometheus_client does, for a push
    gateway over HTTPS, which sereport never uses.  A stand-in that refuses lets them."""
    import urllib.error
    import urllib.request

    if hasattr(urllib.request, "HTTPSHandler"):
        return

    class HTTPSHandler(urllib.request.BaseHandler):
        def https_open(self, req):
            raise urllib.error.URLError("HTTPS: this process loaded no TLS (sereport has "
                                        "no HTTPS target)")

    urllib.request.HTTPSHandler = HTTPSHandler


def tls_available() -> bool:
    """Whether HTTPS can be spoken: the HTTP stack has TLS, or is not imported yet."""
    client = sys.modules.get("http.client")
    return client is None or hasattr(client, "HTTPSConnection")
