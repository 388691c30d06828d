"""The receiver's database: SQLite (the default, a file) or PostgreSQL (``--db postgresql://…``).

One schema for both (``migrations.py``); the SQL is written once, with ``?``
placeholders, and the PostgreSQL dialect turns them into psycopg's ``%s``.
Each thread keeps a connection of its own, and every unit of work is one
transaction (``with store.tx() as tx``).  A database that cannot be reached
raises ``StoreDown``: the receiver answers heartbeats 503 then, so boxes retry.
That is said once, and so is the recovery (``health``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import threading
import time
from typing import Callable, Iterator

from sereport.redact import redact_url
from sereport.receiver import migrations


class StoreDown(Exception):
    """The database cannot be reached, or did not answer in time."""


class StoreError(Exception):
    """A database the receiver cannot use (a one-line reason, for the command line)."""


def default_path() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "sereport", "receiver.db")


class Tx:
    """One transaction's statements."""

    def __init__(self, cursor, convert: Callable[[str], str]):
        self.cursor, self.convert = cursor, convert

    def run(self, sql: str, params: tuple | list = ()) -> int:
        self.cursor.execute(self.convert(sql), tuple(params))
        return self.cursor.rowcount

    def all(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        self.cursor.execute(self.convert(sql), tuple(params))
        return self.cursor.fetchall()

    def one(self, sql: str, params: tuple | list = ()):
        rows = self.all(sql, params)
        return rows[0] if rows else None


class _Sqlite:
    name = "sqlite"
    for_update = ""
    begin = "BEGIN IMMEDIATE"  # take the write lock at once: no deadlock between two writers
    down_errors: tuple = (sqlite3.OperationalError,)
    conflict_errors: tuple = (sqlite3.IntegrityError,)

    def __init__(self, path: str):
        self.path = path
        directory = os.path.dirname(os.path.abspath(path))
        try:  # it holds licence codes: the user's alone
            os.makedirs(directory, mode=0o700, exist_ok=True)
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise StoreError(f"cannot open {path}: {exc.strerror}") from None

    def connect(self):
        conn = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @staticmethod
    def convert(sql: str) -> str:
        return sql

    def shown(self) -> str:
        return self.path


class _Postgres:
    name = "postgresql"
    for_update = " FOR UPDATE"
    begin = "BEGIN"

    def __init__(self, url: str):
        try:
            import psycopg
        except ImportError:
            raise StoreError("PostgreSQL needs psycopg: pip install 'sereport[receiver]'") from None
        self.psycopg, self.url = psycopg, url
        self.down_errors = (psycopg.OperationalError, psycopg.InterfaceError)
        self.conflict_errors = (psycopg.IntegrityError,)

    def connect(self):
        conn = self.psycopg.connect(self.url, autocommit=True, connect_timeout=3,
                                    options="-c statement_timeout=10000 -c lock_timeout=5000")
        return conn

    @staticmethod
    def convert(sql: str) -> str:
        return sql.replace("?", "%s")

    def shown(self) -> str:
        return redact_url(self.url)


class Store:
    """The database behind a receiver."""

    def __init__(self, where: str, say: Callable[[str], None] | None = None):
        self.dialect = _Postgres(where) if where.startswith(("postgresql://", "postgres://")) \
            else _Sqlite(where)
        self.say = say or (lambda line: print(line, file=sys.stderr, flush=True))
        self.local = threading.local()
        self.lock = threading.Lock()
        self.down_since: float | None = None
        self.conns: list = []  # every thread's, to close at the end

    @property
    def for_update(self) -> str:
        return self.dialect.for_update

    def retried(self, work: Callable):
        """``work(tx)`` in a transaction, once more if another receiver inserted the same box
        or device at the same moment (the second try finds the row)."""
        try:
            with self.tx() as tx:
                return work(tx)
        except self.dialect.conflict_errors:
            with self.tx() as tx:
                return work(tx)

    def open(self) -> None:
        """Connect and bring the schema up to date; StoreError with one line if it cannot."""
        self.down_since = 0.0  # at start a failure is the caller's one line, not a log line
        try:
            with self.tx() as tx:
                if self.dialect.name == "postgresql":  # one receiver migrates at a time
                    tx.run("SELECT pg_advisory_xact_lock(52891)")
                before, after = migrations.migrate(tx, self.dialect.name)
        except StoreDown as exc:
            raise StoreError(f"database {self.dialect.shown()} unreachable: {exc}") from None
        except migrations.TooNew as exc:
            raise StoreError(f"database {self.dialect.shown()}: {exc}") from None
        finally:
            self.down_since = None
        if before != after:
            self.say(f"sereport receive: database {self.dialect.shown()}: schema "
                     + (f"upgraded from version {before} to {after}" if before else f"version {after} made"))

    def _connection(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.dialect.connect()
            self.local.conn = conn
            with self.lock:
                self.conns.append(conn)
        return conn

    def _drop(self) -> None:
        conn, self.local.conn = getattr(self.local, "conn", None), None
        with contextlib.suppress(Exception):
            conn.close()

    def _begin(self, begin: str):
        """A cursor in a new transaction.  A kept connection the server has closed since
        (a restart of the server) is replaced once, silently."""
        kept = getattr(self.local, "conn", None) is not None
        try:
            cursor = self._connection().cursor()
            cursor.execute(begin)
            return cursor
        except self.dialect.down_errors:
            if not kept:
                raise
            self._drop()
        cursor = self._connection().cursor()
        cursor.execute(begin)
        return cursor

    @contextlib.contextmanager
    def tx(self, write: bool = True) -> Iterator[Tx]:
        """One transaction, committed at the end of the block (rolled back on an error).
        ``write=False``: only reads (in SQLite they then never wait for a writer)."""
        try:
            cursor = self._begin(self.dialect.begin if write else "BEGIN")
        except self.dialect.down_errors as exc:
            self._drop()
            self._failed(exc)
            raise StoreDown(_reason(exc)) from None
        try:
            yield Tx(cursor, self.dialect.convert)
            cursor.execute("COMMIT")
        except self.dialect.down_errors as exc:
            self._drop()
            self._failed(exc)
            raise StoreDown(_reason(exc)) from None
        except BaseException:
            with contextlib.suppress(Exception):
                cursor.execute("ROLLBACK")
            raise
        self._worked()

    def _failed(self, exc: Exception) -> None:
        with self.lock:
            if self.down_since is not None:
                return
            self.down_since = time.time()
        self.say(f"sereport receive: database {self.dialect.shown()} unreachable ({_reason(exc)}); "
                 "heartbeats are answered 503 until it is back")

    def _worked(self) -> None:
        if not self.down_since:  # None, or 0 while opening
            return
        with self.lock:
            since, self.down_since = self.down_since, None
        if since is not None:
            self.say(f"sereport receive: database {self.dialect.shown()} reachable again after "
                     f"{time.time() - since:.0f} s")

    def close(self) -> None:
        with self.lock:
            conns, self.conns = self.conns, []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()


def _reason(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
