"""The naive baseline: the obvious heartbeat reporter, for comparison only.

What a first version usually looks like: the ``schedule`` library's
``every(N).seconds`` loop, each device probed in turn with a blocking socket
and the same timeout sereport uses, and ``requests.post`` per beat.  It reads
the same config file as sereport (WEB_HEART_URL, WEB_HEART_TIME, dev_sno,
devices, probe_timeout).  Usage: baseline.py CONFIG [--dry-run]
"""

from __future__ import annotations

import json
import socket
import sys
import time
from urllib.parse import urlsplit

import psutil
import requests
import schedule
import yaml

cfg = yaml.safe_load(open(sys.argv[1]))
URL = cfg["WEB_HEART_URL"]
INTERVAL = cfg.get("WEB_HEART_TIME", 5)
TIMEOUT = cfg.get("probe_timeout", 3)
DEVICES = cfg.get("devices") or []


def probe(device):
    parts = urlsplit(device["url"])
    try:
        with socket.create_connection((parts.hostname, parts.port or 554), timeout=TIMEOUT) as s:
            s.sendall(f"OPTIONS {device['url']} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
            return "online" if s.recv(1024).startswith(b"RTSP/") else "offline"
    except OSError:
        return "offline"


def report():
    mem = psutil.virtual_memory()
    disk = psutil.disk_usage("/")
    return {
        "gateway_ip": "127.0.0.1", "gateway_name": socket.gethostname(),
        "gateway_status": "online", "gateway_sn": "", "dev_sno": cfg["dev_sno"],
        "gateway_ext_data": {"sw_version": "", "cpu_usage": psutil.cpu_percent(),
                             "memory_size": round(mem.total / 2**30, 2),
                             "memory_usage": round(mem.percent / 100, 2),
                             "disk_size": round(disk.total / 2**30, 2),
                             "disk_free_size": round(disk.free / 2**30, 2)},
        "sub_devices": [{"ep_id": f"{cfg['dev_sno']}__{urlsplit(d['url']).hostname}",
                         "ep_name": d.get("name", ""), "ep_ip": urlsplit(d["url"]).hostname,
                         "ep_status": probe(d), "ep_location": "", "ep_type": "2",
                         "ep_url": d["url"]} for d in DEVICES],
    }


def job():
    try:
        requests.post(URL, json=report(), timeout=TIMEOUT)
    except requests.RequestException as exc:
        print("post failed:", exc, file=sys.stderr)


if __name__ == "__main__":
    if "--dry-run" in sys.argv:
        print(json.dumps(report(), indent=2))
        sys.exit(0)
    schedule.every(INTERVAL).seconds.do(job)
    while True:
        schedule.run_pending()
        time.sleep(0.05)  # a careful loop; the schedule docs sleep a whole second
