"""The config in force, handed to the process a daemon execs in its own place.

A start again (``Daemon._start_again``) validates the new config, ends its loops and
execs its own command line; the new process reads the file again.  Saved broken in
between, the file would stop the service for good (exit 78, which systemd does not
restart), where a bad edit otherwise leaves the running config in force.  So the old
process hands over the config it validated: pickled into an anonymous memory file
(memfd_create(2)) left open across the exec, its number in ``SEREPORT_RUNNING_CONFIG``.
The new process takes it (and closes it, and drops the variable, before anything it
starts could inherit them) and falls back on it only if the file is now invalid.

Only a memory file of this name is read: the variable alone cannot make ``run`` unpickle
another file.  Without memfd_create (a kernel older than 3.17, a seccomp filter) there is
no hand-over, and the start again reads the file as before.
"""

from __future__ import annotations

import os

from sereport import limits
from sereport.config.model import Config

ENV = "SEREPORT_RUNNING_CONFIG"
NAME = "sereport-config"
_NOEXEC_SEAL = 0x0008  # MFD_NOEXEC_SEAL, Linux 6.3; older kernels refuse it: then no flag


def give(cfg: Config) -> tuple[dict, int | None]:
    """(the environment to exec with, the memory file's descriptor or None)."""
    env = {k: v for k, v in os.environ.items() if k != ENV}
    create = getattr(os, "memfd_create", None)
    if create is None:
        return env, None
    import pickle

    data = pickle.dumps(cfg, protocol=4)
    for flags in (_NOEXEC_SEAL, 0):  # not MFD_CLOEXEC: it is to be inherited
        try:
            fd = create(NAME, flags)
        except OSError:
            continue
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
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
    if raw is None or not raw.isdigit():
        return None
    fd = int(raw)
    try:
        if os.readlink(f"/proc/self/fd/{fd}") != f"/memfd:{NAME} (deleted)":
            return None  # not ours: left alone
    except OSError:
        return None
    import pickle  # only here: a plain start does not load it

    try:
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(limits.MAX_STATE_BYTES + 1)
        if len(data) > limits.MAX_STATE_BYTES:
            return None
        cfg = pickle.loads(data)
    except Exception:  # whatever a broken hand-over raises: read the file as ever
        return None
    return cfg if isinstance(cfg, Config) else None
