"""The local API's change token: what keeps an unprivileged local process from
steering the daemon.

Reading the API (status, metrics, devices and config with secrets masked)
is open on loopback, as before.  Changing anything (setconfigs, adding or
removing a device) needs ``Authorization: Bearer TOKEN``: ``api_token``
when the config sets one (then every request needs it), else a token made
at the first start in ``<state_dir>/api-token``, mode 0600, readable only by
the service's user and root (``sudo cat /var/lib/sereport/api-token``).
"""

from __future__ import annotations

import os

from sereport import atomic

FILE = "api-token"


def local_token(state_dir: str) -> str:
    """The token in state_dir, made (random, 48 hex digits) when there is none."""
    path = os.path.join(state_dir, FILE)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with open(fd, encoding="ascii") as handle:
            token = handle.read(200).strip()
        if len(token) >= 32 and token.isalnum():
            return token
    except (OSError, UnicodeDecodeError):
        pass
    token = os.urandom(24).hex()
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    atomic.write(path, (token + "\n").encode("ascii"), mode=0o600)
    return token
