"""The ``sereport`` command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading

from sereport import __version__, config, logs
from sereport.argtypes import bounded
from sereport.config import commands as config_commands
from sereport.config import handover
from sereport.devices import commands as device_commands
from sereport.devices import discover

EX_CONFIG = 78  # sysexits.h: configuration error
log = logging.getLogger("sereport")


def _options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The global options; a subcommand repeats them (``sereport run --config X``) with
    no defaults of its own, so a value given on either side of it counts."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--config", metavar="PATH", default=default,
                        help=f"config file (default: $SEREPORT_CONFIG or {config.DEFAULT_PATH})")
    parser.add_argument("--log-level", choices=logs.LEVELS,
                        default=argparse.SUPPRESS if suppress else "info",
                        help="how much to log (default: info)")


def _modes(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else False
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", default=default,
                      help="print the JSON that would be sent and exit (one document; with "
                           "several formats, one object holding each by its name)")
    mode.add_argument("--once", action="store_true", default=default,
                      help="send one beat and exit 0 only if every target accepted it")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sereport",
        description="Heartbeat reporter for Sophgo SE3/SE5/SE7 AI mini boxes.")
    parser.add_argument("--version", action="version", version=f"sereport {__version__}")
    _options(parser, suppress=False)
    _modes(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser("run", help="run the reporter daemon (the default)", parents=[common])
    _modes(run, suppress=True)
    commands.add_parser("check", parents=[common],
                        help="check the config as `run` would, print 'ok' and exit 0, "
                             "or print every problem and exit 78; nothing is sent")
    device_commands.add_parser(commands, [common])
    discover.add_parser(commands, [common])
    config_commands.add_parser(commands, [common])
    receive = commands.add_parser("receive", help="run a heartbeat receiver to watch boxes",
                                  parents=[common])
    receive.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    receive.add_argument("--port", type=int, default=9528, help="port to listen on (default: 9528)")
    receive.add_argument("--json-log", metavar="FILE",
                         help="append every heartbeat received to FILE as one JSON line")
    receive.add_argument("--idle-timeout", type=bounded(1, 3600, whole=True, unit="seconds"),
                         default=30, metavar="SECONDS",
                         help="close a connection quiet for this long (default: 30)")
    receive.add_argument("--db", metavar="PATH|URL", default="",
                         help="the history: an SQLite file (default: $XDG_DATA_HOME/sereport/receiver.db) "
                              "or postgresql://… (needs psycopg)")
    receive.add_argument("--keep-days", type=bounded(1, 3650), default=30, metavar="DAYS",
                         help="keep this many days of status changes (default: 30)")
    receive.add_argument("--grace", type=bounded(1.5, 100), default=3, metavar="INTERVALS",
                         help="a box silent for this many of its intervals is down (default: 3)")
    receive.add_argument("--alert-webhook", action="append", default=[], metavar="URL",
                         help="POST every alert to URL as JSON (repeatable)")
    receive.add_argument("--token-file", metavar="FILE", default="",
                         help="mutes need Authorization: Bearer TOKEN, the token in FILE "
                              "(without it, mutes come from loopback only)")
    receive.add_argument("--alert-min-gap", type=bounded(0, 86400), default=300, metavar="SECONDS",
                         help="at most one alert per box or device this often (default: 300)")
    return parser


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum, _frame):
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
    return stop


def _dry_run(cfg: config.Config) -> int:
    """One JSON document on stdout: the report itself, or with several formats an
    object holding each by its format's name (a JSON tool reads either)."""
    from sereport.report.reporter import Reporter

    reporter = Reporter(cfg)
    try:
        reporter.monitor.cycle()  # so the states printed are real
        docs = reporter.documents()
    finally:
        reporter.close()
    out = docs[0][1] if len(docs) == 1 else dict(docs)
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


def _once(cfg: config.Config) -> int:
    from sereport.report.reporter import Reporter

    reporter = Reporter(cfg)
    try:
        reporter.monitor.cycle()  # so the states sent are real
        results = reporter.beat()
    finally:
        reporter.close()
    for r in results:
        print(f"{r.format} -> {r.url}: {'ok' if r.ok else 'FAILED'} ({r.reason})")
    return 0 if all(r.ok for r in results) else 1


def _run(cfg: config.Config, config_error: str = "") -> int:
    from sereport import lean

    lean.load_http(tls=lean.tls_needed(cfg.urls))  # no OpenSSL without an HTTPS target
    from sereport.service.daemon import Daemon

    daemon = Daemon(cfg, config_error=config_error)
    daemon.install_signals()
    code = daemon.run()
    # Leave now: an abandoned POST or a read on a stuck mount must not hold the exit,
    # and the interpreter would join worker threads at exit.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dry_run and args.once:  # one on each side of `run`
        parser.error("argument --once: not allowed with argument --dry-run")
    logs.setup(args.log_level)
    handed = handover.take()  # from a daemon started again in this process's place
    if args.command == "receive":
        from sereport.receiver.service import Options, serve

        for url in args.alert_webhook:
            if not url.startswith(("http://", "https://")):
                print("sereport receive: --alert-webhook: not an http:// or https:// URL", file=sys.stderr)
                return 2
        return serve(Options(args.host, args.port, args.json_log, args.idle_timeout, args.db,
                             args.keep_days, args.grace, args.alert_webhook, args.alert_min_gap,
                             args.token_file),
                     _stop_on_signals())
    path = config.resolve_path(args.config)
    if args.command == "config":  # before the load: `config drop` mends a bad override
        return config_commands.run(args, path)
    try:
        cfg = config.load(path)
        if not args.dry_run and args.command not in ("devices", "discover"):
            config.require_targets(cfg)
    except config.ConfigError as exc:
        daemon = args.command in (None, "run") and not (args.dry_run or args.once)
        if handed is None or handed.path != path or not daemon:
            for problem in exc.problems:
                print(f"sereport: {problem}", file=sys.stderr)
            return EX_CONFIG
        # Edited again, broken, while the daemon started again: as at a reload, the
        # config that was in force goes on.
        for problem in exc.problems:
            log.error("config not reloaded (starting again): %s", problem)
        log.error("the running config stays in force until %s is fixed", path)
        return _run(handed, "\n".join(exc.problems))
    if args.command == "check":
        print(f"{path}: ok")
        return 0
    if args.command == "devices":
        return device_commands.run(args, cfg)
    if args.command == "discover":
        return discover.run(args, cfg)
    if args.dry_run:
        return _dry_run(cfg)
    if args.once:
        return _once(cfg)
    return _run(cfg)
