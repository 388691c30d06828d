"""``sereport config show`` and ``sereport config drop``: where every value in force comes
from, and going back from the API's overrides to the config file's values."""

from __future__ import annotations

import argparse
import json
import os
import sys

from sereport.config import origins, overrides
from sereport.config.loading import load, overrides_path_of, read_file, read_overrides
from sereport.config.model import ConfigError, canonical

EX_CONFIG = 78


def add_parser(commands, parents: list) -> None:
    parser = commands.add_parser(
        "config", parents=parents,
        help="show where every value in force comes from, or drop the API's overrides")
    actions = parser.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    show = actions.add_parser("show", parents=parents,
                              help="every effective key, its value (secrets masked) and its "
                                   "origin: default, config file or overrides file")
    show.add_argument("--json", action="store_true", help="one JSON object, by key")
    drop = actions.add_parser("drop", parents=parents,
                              help="remove keys set through the API (overrides.yaml): the "
                                   "config file's values are in force again")
    which = drop.add_mutually_exclusive_group(required=True)
    which.add_argument("keys", nargs="*", default=[], metavar="KEY", help="the keys to drop")
    which.add_argument("--all", action="store_true", help="drop every override")


def run(args: argparse.Namespace, path: str) -> int:
    try:
        if args.config_action == "show":
            return _show(load(path), args.json)
        return _drop(path, args.keys, args.all)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"sereport: {problem}", file=sys.stderr)
        return EX_CONFIG


def _show(cfg, as_json: bool) -> int:
    rows = origins.rows(cfg)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    width = max(map(len, rows))
    for key, row in rows.items():
        value = json.dumps(row["value"], ensure_ascii=False)
        where = row["origin"]
        if "file" in row:
            where += f" {row['file']}"
        if row["origin"] == "overrides file":
            where += f", set {row['set_at'] or 'by hand or by an older sereport'}"
            if "file_value" in row:
                where += f", over {json.dumps(row['file_value'], ensure_ascii=False)} in {cfg.path}"
        print(f"{key:<{width}}  {value}  ({where})")
    return 0


def _drop(path: str, keys: list[str], every: bool) -> int:
    """Rewrite overrides.yaml without the keys; the daemon follows the file within a second.
    Works while the overrides file holds a value the config would refuse."""
    over_path = overrides_path_of(read_file(path))
    current = read_overrides(over_path)
    wanted = {e.key for e in current} if every else {canonical(k) for k in keys}
    if not current:
        print(f"{over_path}: no overrides; {path} is in force for every key")
        return 0
    missing = sorted(wanted - {e.key for e in current})
    if missing:
        print(f"sereport: {over_path}: no override of {', '.join(missing)}"
              + f"; it holds {', '.join(e.key for e in current)}", file=sys.stderr)
        return 1
    try:
        overrides.write(over_path, [e for e in current if e.key not in wanted])
    except OSError as exc:
        print(f"sereport: {over_path}: cannot write: {exc.strerror or exc}; nothing changed"
              + ("" if os.geteuid() == 0 else " (run as root)"), file=sys.stderr)
        return 1
    for entry in current:
        if entry.key in wanted:
            print(f"dropped {entry.key} (set {entry.at or 'by hand or by an older sereport'})")
    print(f"{path} is in force for {', '.join(sorted(wanted))}; a running "
          "daemon follows within a second")
    return 0
