"""``sereport receive``: the store, the app, the sweeper, the server, until stopped.

The sweeper wakes every second: boxes silent past their grace become down
(``history.sweep``), and once an hour changes older than ``--keep-days`` are
deleted.  The server is waitress through ``sereport.httpd``: HTTP/1.1 with
keep-alive and ``Expect: 100-continue``, IPv4 or IPv6, ``THREADS`` worker
threads, at most ``CONNECTION_LIMIT`` connections, each closed after
``--idle-timeout`` seconds of quiet, bodies of at most ``MAX_BODY``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field

from sereport import httpd, sigmask
from sereport.receiver import history, validate
from sereport.receiver.alerts import Alerter
from sereport.receiver.server import Receiver
from sereport.receiver.store import Store, StoreDown, StoreError, default_path

MAX_BODY = 1024 * 1024
IDLE_TIMEOUT = 30
THREADS = 4
CONNECTION_LIMIT = 200
SWEEP_EVERY = 1.0
PRUNE_EVERY = 3600.0


@dataclass
class Options:
    host: str = "127.0.0.1"
    port: int = 9528
    json_log: str | None = None
    idle_timeout: int = IDLE_TIMEOUT
    db: str = ""
    keep_days: float = 30.0
    grace: float = 3.0
    webhooks: list = field(default_factory=list)
    alert_min_gap: float = 300.0
    token_file: str = ""


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _error_body(_status: int, message: str) -> tuple[str, bytes]:
    """The body of waitress's own answers (malformed requests, a body too large)."""
    return ("application/json; charset=utf-8",
            json.dumps({"result": "error", "errors": [message]}).encode("utf-8"))


def listen(receiver: Receiver, host: str, port: int,
           idle_timeout: int = IDLE_TIMEOUT) -> httpd.HttpServer:
    """The receiver's HTTP server on host:port, not started yet; OSError if it cannot listen."""
    return httpd.HttpServer(receiver, host, port, name="sereport-receiver",
                            error_body=_error_body, threads=THREADS,
                            connection_limit=CONNECTION_LIMIT, idle_timeout=idle_timeout,
                            max_body=MAX_BODY)


def sweeper(store: Store, alerter: Alerter | None, grace: float, keep_days: float,
            stop: threading.Event) -> None:
    pruned = 0.0
    while not stop.wait(SWEEP_EVERY):
        now = time.time()
        try:
            with store.tx() as tx:
                changes = history.sweep(tx, now, grace)
            if alerter and changes:
                alerter.submit(changes)
            if now - pruned >= PRUNE_EVERY:
                with store.tx() as tx:
                    history.prune(tx, now, keep_days)
                pruned = now
        except StoreDown:
            pass  # said once by the store; heartbeats get 503 meanwhile


def serve(options: Options, stop: threading.Event | None = None) -> int:
    try:
        validate.load()
        store = Store(options.db or default_path(), _say)
        store.open()
    except (validate.MissingDependency, StoreError) as exc:
        print(f"sereport receive: {exc}", file=sys.stderr)
        return 1
    token = ""
    if options.token_file:
        try:
            with open(options.token_file, encoding="utf-8") as handle:
                token = handle.read(4097).strip()
        except OSError as exc:
            token, reason = "", exc.strerror
        else:
            reason = "empty" if not token else "longer than 4 KiB" if len(token) > 4096 else ""
        if reason or not token:
            print(f"sereport receive: --token-file {options.token_file}: {reason or 'empty'}",
                  file=sys.stderr)
            store.close()
            return 2
    with sigmask.stop_signals_blocked():  # its threads leave SIGINT and SIGTERM to the main one
        alerter = Alerter(options.webhooks, options.alert_min_gap, _say) if options.webhooks \
            else None
    receiver = Receiver(store, alerter, json_log=options.json_log, grace=options.grace, token=token)
    try:
        server = listen(receiver, options.host, options.port, options.idle_timeout)
    except OSError as exc:
        print(f"sereport receive: cannot listen on {options.host} port {options.port}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        store.close()
        return 1
    base = server.url
    _say(f"sereport receive: heartbeats to {base}DeviceStatus, status page at {base}, "
         f"history in {store.dialect.shown()}")
    stop = stop or threading.Event()
    sweeping = threading.Thread(target=sweeper, name="sereport-sweeper", daemon=True,
                                args=(store, alerter, options.grace, options.keep_days, stop))
    server.start()
    with sigmask.stop_signals_blocked():
        sweeping.start()
    try:
        # A stop signal is delivered to a thread that does not block it: the main one. The
        # timeout only bounds the wait should another (a library's) have taken it.
        while not stop.wait(1.0):
            pass
    finally:  # stopped, or interrupted (Ctrl-C): the sweeper ends with the server
        stop.set()
        server.stop()
        sweeping.join(5)
        if alerter:
            alerter.close()
        store.close()
    return 0
