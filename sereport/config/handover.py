"""The config in force, handed to the process a daemon execs in its own place.

A start again (``Daemon._start_again``) validates the new config, ends its loops and
execs its own command line; the new process reads the file again.  Saved broken in
between, the file would stop the service for good (exit 78, which systemd does not
restart), where a bad edit otherwise leaves the running config in force.  So the old
process hands over the config it validated: pickled into an anonymous memory file
(memfd_create(2)) left open across the exec, its number in ``SEREPORT_RUNNING_CONFIG``.
The new process takes it (and closes it, and drops the variable, before anything it
starts could inherit them) and falls back on it only if the file is now invalid.

Only a memory file of this name, sealed against any change once written (and checked
after the seal), from this very version of sereport, is read: the variable alone cannot
make ``run`` unpickle another file, nor can another process of the same user rewrite it
through /proc.  Without memfd_create or its seals (a kernel older than 3.17, a seccomp
filter) there is no hand-over, and the start again reads the file as before.
"""

from __future__ import annotations

import os

from sereport import __version__, limits
from sereport.config.model import Config

ENV = "SEREPORT_RUNNING_CONFIG"
NAME = "sereport-config"
_ALLOW_SEALING, _NOEXEC_SEAL = 0x0002, 0x0008  # MFD_*; the second from Linux 6.3


def _seals() -> int:
    """Every seal: no write, no shrinking, no growing, no more seals."""
    import fcntl

    return fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL


def give(cfg: Config) -> tuple[dict, int | None]:
    """(the environment to exec with, the memory file's descriptor or None)."""
    env = {k: v for k, v in os.environ.items() if k != ENV}
    create = getattr(os, "memfd_create", None)  # Linux only
    if create is None:
        return env, None
    import fcntl
    import pickle

    try:
        data = pickle.dumps((__version__, cfg), protocol=4)
    except Exception:  # a config that does not pickle: no hand-over
        return env, None
    for flags in (_NOEXEC_SEAL | _ALLOW_SEALING, _ALLOW_SEALING):  # not MFD_CLOEXEC: inherited
        try:
            fd = create(NAME, flags)
        except OSError:
            continue
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _seals())
            if os.pread(fd, len(data) + 1, 0) != data:  # written to before the seal
                raise OSError("changed")
            os.lseek(fd, 0, os.SEEK_SET)
        except OSError:
            os.close(fd)
            return env, None
        env[ENV] = str(fd)
        return env, fd
    return env, None


def take() -> Config | None:
    """The config handed over by the process this one replaced, or None.  Drops the
    variable either way, and closes the file when it is the hand-over's."""
    raw = os.environ.pop(ENV, None)
    if raw is None or not (raw.isascii() and raw.isdigit()):
        return None
    fd = int(raw)
    try:
        if os.readlink(f"/proc/self/fd/{fd}") != f"/memfd:{NAME} (deleted)":
            return None  # not ours: left alone
    except OSError:
        return None
    import fcntl  # only here: a plain start loads neither
    import pickle

    try:
        with os.fdopen(fd, "rb") as handle:
            wanted = _seals()
            if fcntl.fcntl(handle.fileno(), fcntl.F_GET_SEALS) & wanted != wanted:
                return None
            data = handle.read(limits.MAX_STATE_BYTES + 1)
        if len(data) > limits.MAX_STATE_BYTES:
            return None
        version, cfg = pickle.loads(data)
    except Exception:  # whatever a broken hand-over raises: read the file as ever
        return None
    if version != __version__ or not isinstance(cfg, Config):
        return None  # another sereport's (an upgrade in between): read the file as ever
    return cfg
