"""The receiver's status page in a real headless browser (Debian's chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time


from peers import need, refused_port
from procs import stop, wait_for

LICENCE = "ZKZCPI000120190807142601"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-quic", "--window-size=1200,700"]


def chromium(tmp_path, url: str, *action: str) -> str:
    need(shutil.which("chromium") is not None, "chromium (Debian package chromium)")
    done = subprocess.run(["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           "--virtual-time-budget=4000", *action, url],
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def listening(port):
    import socket
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_page_shows_the_boxes_a_running_reporter_reports(write_config, spawn, tmp_path):
    port = refused_port()
    receiver = spawn("receive", "--port", str(port))
    wait_for(lambda: listening(port))
    path = write_config(f"""
        dev_sno: {LICENCE}
        WEB_HEART_URL: http://127.0.0.1:{port}/DeviceStatus
        WEB_HEART_TIME: 0.5
        formats: both
        extensions: [uptime]
        devices:
          - {{url: "127.0.0.21", name: "front <b>door</b>", probe: none, status: online}}
          - {{url: "127.0.0.22", name: back gate, probe: none, status: offline}}
    """)
    reporter = spawn("--config", path, "run")
    url = f"http://127.0.0.1:{port}/"
    dom = wait_for(lambda: (d := chromium(tmp_path, url, "--dump-dom")) and 'data-box="ZKZC…2601"' in d and d,
                   timeout=60, step=0.5)
    row = re.search(r'<tr class="box online"[^>]*data-box="ZKZC…2601".*?</details></td></tr>', dom, re.S).group(0)
    assert ">1/2<" in row and "2 device(s)" in row
    assert '<span class="s-online"' in row  # the 24 h strip
    assert re.search(r'class="vitals">[^<]*up \d+ d', row)  # the vitals
    assert "1 box(es): 1 online, 0 late, 0 down, 0 offline" in dom and "1–1 of 1" in dom
    box_id = re.search(r'data-id="([0-9a-f]+)"', row).group(1)
    # Expanded (the address can say so): each device has its own strip.
    opened = f"{url}#open={box_id}"
    dom = wait_for(lambda: (d := chromium(tmp_path, opened, "--dump-dom")) and "<details open" in d
                   and d.count('class="strip"') >= 3 and d, timeout=30, step=0.5)
    assert re.search(r'data-device="[0-9a-f]+"><td>back gate</td>.*?class="s-offline"', dom, re.S)
    assert "front &lt;b&gt;door&lt;/b&gt;" in dom  # shown as text, not markup
    assert "<b>door</b>" not in dom
    chromium(tmp_path, opened, f"--screenshot={tmp_path / 'page.png'}")
    assert (tmp_path / "page.png").stat().st_size > 5000

    assert stop(reporter)[0] == 0  # its offline beat: the box is offline
    dom = wait_for(lambda: (d := chromium(tmp_path, url + "#status=offline", "--dump-dom"))
                   and 'class="box offline"' in d and d, timeout=30, step=0.5)
    assert "1 box(es): 0 online, 0 late, 0 down, 1 offline" in dom
    dom = chromium(tmp_path, url + "#status=online", "--dump-dom")
    assert 'data-box="ZKZC…2601"' not in dom and ">none<" in dom  # filtered out by the server
    stop(receiver)


def test_page_of_5000_boxes_is_paginated_and_searchable(spawn, tmp_path):
    db = tmp_path / "fleet.db"
    fill(str(db), 5000)
    port = refused_port()
    receiver = spawn("receive", "--port", str(port), "--db", str(db))
    wait_for(lambda: listening(port))
    dom = chromium(tmp_path, f"http://127.0.0.1:{port}/", "--dump-dom")
    assert "5000 box(es)" in dom and "1–50 of 5000" in dom
    assert dom.count('<tr class="box ') == 50
    dom = chromium(tmp_path, f"http://127.0.0.1:{port}/#q=box-04321", "--dump-dom")
    assert dom.count('<tr class="box ') == 1 and ">box-04321<" in dom
    stop(receiver)


def fill(db: str, boxes: int) -> None:
    """A fleet's history, written as the receiver writes it."""
    import time as clock

    from sereport.receiver import history
    from sereport.receiver.store import Store
    from test_validate import GATEWAY

    store = Store(db, say=lambda line: None)
    store.open()
    now = clock.time()
    with store.tx() as tx:
        for n in range(boxes):
            doc = dict(GATEWAY, dev_sno=f"LIC{n:08d}", gateway_name=f"box-{n:05d}", sub_devices=[
                dict(GATEWAY["sub_devices"][0], ep_id=f"LIC{n:08d}__10.0.{d}.1", ep_ip=f"10.0.{d}.1",
                     ep_status="online" if d % 5 else "offline") for d in range(16)])
            history.record(tx, "gateway", doc, "127.0.0.1", now)
    store.close()


def test_empty_page_says_how_to_start(spawn, tmp_path):
    port = refused_port()
    receiver = spawn("receive", "--port", str(port))
    wait_for(lambda: listening(port))
    dom = chromium(tmp_path, f"http://127.0.0.1:{port}/", "--dump-dom")
    assert "0 box(es): 0 online" in dom and 'id="empty"' in dom and 'id="empty" hidden' not in dom
    stop(receiver)
