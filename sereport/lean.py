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
"""

from __future__ import annotations

import sys
import warnings


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
