"""sereport.digests: hashlib's digests, without loading OpenSSL for them."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from sereport import digests


def test_the_same_digests_as_hashlib():
    for name in ("md5", "sha1", "sha256"):
        ours = getattr(digests, name)(b"sereport \xe8\xae\xbe\xa4\x87").hexdigest()
        assert ours == hashlib.new(name, b"sereport \xe8\xae\xbe\xa4\x87").hexdigest(), name


def test_importing_them_loads_no_openssl():
    done = subprocess.run([sys.executable, "-c", "import sys, sereport.digests as d; "
                           "d.sha256(b'x'); print('_hashlib' in sys.modules)"],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
