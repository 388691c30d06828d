"""file: a local video file exists, is a regular readable file, and is not empty.

The check runs in a small thread pool of its own, so a file on a stuck mount
costs the probe timeout and cannot starve other probes.
"""

from __future__ import annotations

import os
import stat

from sereport.probes import Outcome, Settings
from sereport.probes.engine import Workers

WORKERS = Workers("file-probe")


def check(path: str) -> Outcome:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return Outcome(False, "missing_file", "no such file")
    except PermissionError:
        return Outcome(False, "unreadable", "permission denied")
    if not stat.S_ISREG(st.st_mode):
        return Outcome(False, "not_a_file", "not a regular file")
    if st.st_size == 0:
        return Outcome(False, "empty_file", "size 0")
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        return Outcome(False, "unreadable", exc.strerror or "cannot read")
    return Outcome(True, "ok", f"{st.st_size} bytes")


def probe(device, settings: Settings):
    return (yield from WORKERS.call(check, device.url))
