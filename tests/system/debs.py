"""The .deb's build script, its wheel cache, and how to call it from a test."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import procs

REPO = Path(__file__).resolve().parents[2]
BUILD_DEB = REPO / "packaging" / "build-deb.sh"
CACHE = REPO / "packaging" / "cache"


def version() -> str:
    text = (REPO / "sereport" / "__init__.py").read_text(encoding="utf-8")
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def build_env() -> dict:
    """This environment without the test guard on PYTHONPATH (pip must reach PyPI), and
    this Python (with pip) for build-deb.sh."""
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
             if p and os.path.realpath(p) != os.path.realpath(procs.GUARD)]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    else:
        env.pop("PYTHONPATH", None)
    env["PYTHON"] = sys.executable
    return env
