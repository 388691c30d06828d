"""Writing a file so that a crash leaves either the old or the new one whole:
a temp file beside it, fsync, rename over it, fsync of the directory.

Root writes a file owned by the directory's owner: the service runs as its own
user, and a `sereport devices add` run as root must leave a registry that the
service can still read and write."""

from __future__ import annotations

import os


def follow_directory_owner(fd: int, directory: str) -> None:
    """As root, give the open file the owner and group of its directory."""
    if os.geteuid() != 0:
        return
    st = os.stat(directory)
    if st.st_uid != 0 or st.st_gid != 0:
        os.fchown(fd, st.st_uid, st.st_gid)


def write(path: str, data: bytes, mode: int = 0o600, sync: bool = True) -> None:
    directory = os.path.dirname(path) or "."
    temp = os.path.join(directory, f".{os.path.basename(path)}.{os.urandom(6).hex()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            follow_directory_owner(fd, directory)
            handle.write(data)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    if sync:
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
