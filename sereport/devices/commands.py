"""``sereport devices list|add|remove|show``: the registry from the shell."""

from __future__ import annotations

import argparse
import json
import sys
import time

from sereport.config import Config
from sereport.devices.records import EP_TYPES, KINDS, PROBES, STATUSES
from sereport.devices.monitor import describe, read_status
from sereport.devices.registry import Registry, RegistryError


def add_parser(commands, parents: list) -> None:
    """``parents``: the global options, accepted after each subcommand too."""
    devices = commands.add_parser("devices", help="list, add, remove or show attached devices",
                                  parents=parents)
    actions = devices.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every device, as a table", parents=parents)
    listing.add_argument("--json", action="store_true", help="as JSON, for scripts")
    add = actions.add_parser("add", help="register a device", parents=parents)
    add.add_argument("url", help="rtsp://..., gb28181://..., /path/to/file.mp4, or a bare IPv4 (photo)")
    add.add_argument("--name", help="description (ep_name / media_device_name)")
    add.add_argument("--type", choices=KINDS, help="device kind (default: from the URL)")
    add.add_argument("--ip", help="device IP (default: from the URL)")
    add.add_argument("--id", help="UUID (default: a new one)")
    add.add_argument("--location", help="location id (ep_location)")
    add.add_argument("--ep-type", choices=EP_TYPES, help="0 gate, 1 snapshot camera, 2 IPC static, "
                                                         "3 IPC dynamic, 4 access control")
    add.add_argument("--permission-id", help="permission group id")
    add.add_argument("--probe", choices=PROBES, help="how to probe it (default: by kind)")
    add.add_argument("--probe-port", type=int, help="port for the probe")
    add.add_argument("--status", choices=STATUSES, help="status to report with --probe none")
    add.add_argument("--username", help="user name for RTSP DESCRIBE")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    remove = actions.add_parser("remove", help="unregister a device", parents=parents)
    remove.add_argument("key", metavar="ID|URL")
    show = actions.add_parser("show", help="one device with its last probe result",
                              parents=parents)
    show.add_argument("key", metavar="ID|URL")
    show.add_argument("--json", action="store_true", help="as JSON, for scripts")


def _table(records: list[dict]) -> str:
    columns = ("id", "status", "reason", "type", "probe", "name", "url")
    rows = [[str(r.get("last_probe", {}).get(c, "-") if c in ("status", "reason") else r[c])
             for c in columns] for r in records]
    widths = [max([len(c)] + [len(row[i]) for row in rows]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace, cfg: Config) -> int:
    registry = Registry(cfg.registry_path, cfg.devices, cfg.path)
    try:
        if args.action == "add":
            fields = {"url": args.url, "name": args.name, "type": args.type, "ip": args.ip,
                      "id": args.id, "location": args.location, "ep_type": args.ep_type,
                      "permission_id": args.permission_id, "probe": args.probe,
                      "probe_port": args.probe_port, "status": args.status,
                      "username": args.username}
            if args.password_stdin:
                fields["password"] = sys.stdin.readline().rstrip("\r\n")
            device = registry.add(fields)
            print(f"added {device.id} {device.shown}")
        elif args.action == "remove":
            device = registry.remove(args.key)
            print(f"removed {device.id} {device.shown}")
        else:
            states = read_status(cfg)
            if args.action == "show":
                device = registry.find(args.key)
                record = describe(device, registry, states.get(device.id))
                if args.json:
                    print(json.dumps(record, ensure_ascii=False, indent=2))
                else:
                    for key, value in record.items():
                        if key == "last_probe":
                            when = time.strftime("%Y-%m-%d %H:%M:%S",
                                                 time.localtime(value["checked_at"]))
                            value = (f"{value['status']} ({value['reason']}"
                                     f"{': ' + value['detail'] if value['detail'] else ''}) "
                                     f"at {when}, took {value['duration']}s")
                        print(f"{key}: {value}")
                    if "last_probe" not in record:
                        print("last_probe: none yet (is the daemon running?)")
            else:
                records = [describe(d, registry, states.get(d.id)) for d in registry.load()]
                print(json.dumps(records, ensure_ascii=False, indent=2) if args.json
                      else _table(records))
    except RegistryError as exc:
        print(f"sereport devices {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0
