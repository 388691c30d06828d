"""MD5, SHA-1 and SHA-256 from Python's own built-in modules.

``hashlib`` takes them from OpenSSL when ``_hashlib`` loads, and loading it maps
libcrypto (3.5 MiB of RSS) into a daemon that may have no other use for it (see
lean.py).  The built-in modules give the same digests; hashlib is the fall-back for a
Python built without them.
"""

from __future__ import annotations

try:
    from _md5 import md5
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import md5

try:
    from _sha1 import sha1
except ImportError:  # pragma: no cover
    from hashlib import sha1

try:
    from _sha2 import sha256  # Python 3.12 and later
except ImportError:
    try:
        from _sha256 import sha256  # Python 3.8 to 3.11
    except ImportError:  # pragma: no cover
        from hashlib import sha256

__all__ = ["md5", "sha1", "sha256"]
