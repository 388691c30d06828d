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
        devices:
          - {{url: "127.0.0.21", name: "front <b>door</b>", probe: none, status: online}}
          - {{url: "127.0.0.22", name: back gate, probe: none, status: offline}}
    """)
    reporter = spawn("--config", path, "run")
    url = f"http://127.0.0.1:{port}/"
    dom = wait_for(lambda: (d := chromium(tmp_path, url, "--dump-dom")) and 'data-box="ZKZC…2601"' in d and d,
                   timeout=60, step=0.5)
    row = re.search(r'<tr class="box"[^>]*data-box="ZKZC…2601".*?</details></td></tr>', dom, re.S).group(0)
    assert ">1/2<" in row and "2 device(s)" in row
    assert "front &lt;b&gt;door&lt;/b&gt;" in row and "back gate" in row  # shown as text, not markup
    assert "<b>door</b>" not in dom
    assert "1 box(es), 0 stale" in dom
    chromium(tmp_path, url, f"--screenshot={tmp_path / 'page.png'}")
    assert (tmp_path / "page.png").stat().st_size > 5000

    assert stop(reporter)[0] == 0  # the box goes quiet: after 3 intervals it is stale
    time.sleep(2.5)
    dom = chromium(tmp_path, url, "--dump-dom")
    assert re.search(r'<tr class="box stale"[^>]*data-box="ZKZC…2601"', dom)
    assert "1 box(es), 1 stale" in dom
    stop(receiver)


def test_empty_page_says_how_to_start(spawn, tmp_path):
    port = refused_port()
    receiver = spawn("receive", "--port", str(port))
    wait_for(lambda: listening(port))
    dom = chromium(tmp_path, f"http://127.0.0.1:{port}/", "--dump-dom")
    assert "0 box(es), 0 stale" in dom and 'id="empty"' in dom and 'id="empty" hidden' not in dom
    stop(receiver)
