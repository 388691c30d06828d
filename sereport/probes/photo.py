"""photo: a device that pushes pictures to the box.

It has no stream to probe.  The box's own software can say when a picture
last came: it touches ``<photo_seen_dir>/<device IP>`` on every picture.
When that file exists it decides (a picture within ``photo_fresh`` seconds
means online); otherwise the device must accept a TCP connection on its
port (``probe_port``, else ``photo_port``, default 80).
"""

from __future__ import annotations

import os
import time

from sereport.probes import Outcome, Settings, tcp


def probe(device, settings: Settings):
    try:
        seen = os.stat(os.path.join(settings.photo_dir, device.ip)).st_mtime
    except OSError:
        return (yield from tcp.probe(device, settings))
    age = max(0.0, time.time() - seen)
    if age <= settings.photo_fresh:
        return Outcome(True, "ok", f"picture {age:.0f}s ago")
    return Outcome(False, "no_recent_picture", f"last picture {age:.0f}s ago")
