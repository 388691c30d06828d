"""File systems a test makes as root to meet a real error: a read-only directory (EROFS,
where root's permissions would let it write anything) and a tiny tmpfs to fill (ENOSPC)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from contextlib import contextmanager

import pytest


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"needs a mount ({done.stderr.strip()})")


def _need_root() -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root (to mount)")


@contextmanager
def read_only(directory: str):
    """``directory`` bound read-only onto itself while the block runs."""
    _need_root()
    _mount("--bind", directory, directory)
    try:
        _mount("-o", "remount,bind,ro", directory)
        yield
    finally:
        subprocess.run(["umount", directory], check=True)


@contextmanager
def full_tmpfs(directory: str, size: str = "64k"):
    """A tmpfs of ``size`` on ``directory``, filled up, while the block runs."""
    _need_root()
    os.makedirs(directory, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", directory)
    try:
        yield lambda: fill(directory)
    finally:
        subprocess.run(["umount", directory], check=True)


def fill(directory: str) -> None:
    """Write until the file system says it is full."""
    fd = os.open(os.path.join(directory, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
