"""`sereport receive` and `sereport run` as real processes on loopback."""

from __future__ import annotations

import json
import signal

from peers import refused_port
from procs import stop, wait_for

LICENCE = "ZKZCPI000120190807142601"


def test_run_beats_on_the_grid_into_the_receiver(write_config, tmp_path, spawn):
    port = refused_port()
    beats = tmp_path / "beats.jsonl"
    receiver = spawn("receive", "--port", str(port), "--json-log", str(beats))
    wait_for(lambda: receiver.poll() is None and _listening(port))
    path = write_config(f"""
        WEB_HEART_URL: http://127.0.0.1:{port}/DeviceStatus
        WEB_HEART_TIME: 1
        dev_sno: {LICENCE}
        formats: both
        devices:
          - {{url: "rtsp://127.0.0.5:9/ch2", probe: none, status: online}}
    """)
    reporter = spawn("--config", path, "run")
    lines = wait_for(lambda: _lines(beats) if len(_lines(beats)) >= 8 else None, timeout=15)
    code, _out, err = stop(reporter)
    assert code == 0, err
    assert "SIGTERM received: stopping" in err
    rcode, rout, _ = stop(receiver)
    assert rcode == 0
    assert all(e["valid"] for e in lines), [e["problems"] for e in lines if not e["valid"]]
    gateways = [e for e in lines if "dev_sno" in e["body"]]
    medias = [e for e in lines if "mq_license_key" in e["body"]]
    assert len(gateways) >= 3 and len(medias) >= 3
    for entry in gateways:
        body = entry["body"]
        assert body["dev_sno"] == LICENCE and body["gateway_status"] == "online"
        assert body["sub_devices"][0]["ep_id"] == f"{LICENCE}__127.0.0.5"
        assert isinstance(body["gateway_ext_data"]["sw_version"], str)
    # The grid: beat k arrives k seconds after beat 0, give or take scheduling noise,
    # and the error does not grow with k (no drift).
    times = [e["received_at"] for e in gateways]
    for k, t in enumerate(times):
        assert abs((t - times[0]) - k) < 0.25, (k, t - times[0])
    assert "gateway box=" in rout and "media box=ZKZC…2601" in rout


def _lines(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _listening(port):
    import socket
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_sigint_stops_run_and_receive(write_config, tmp_path, spawn):
    port = refused_port()
    beats = tmp_path / "beats.jsonl"
    receiver = spawn("receive", "--port", str(port), "--json-log", str(beats))
    wait_for(lambda: _listening(port))
    reporter = spawn("--config", write_config(
        f"dev_sno: {LICENCE}\nWEB_HEART_URL: http://127.0.0.1:{port}/x\nWEB_HEART_TIME: 60\n"), "run")
    wait_for(lambda: _lines(beats))  # both are up and past start-up
    for proc in (reporter, receiver):
        proc.send_signal(signal.SIGINT)
        assert stop(proc)[0] == 0


def _blocked(pid: int) -> dict[str, int]:
    """thread name -> its blocked-signal mask, for every thread of `pid` but the main one."""
    from pathlib import Path

    masks = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        if int(task.name) == pid:
            continue
        fields = dict(line.split(":\t", 1) for line in (task / "status").read_text().splitlines()
                      if ":\t" in line)
        masks[f"{fields['Name'].strip()}/{task.name}"] = int(fields["SigBlk"], 16)
    return masks


def test_only_the_main_thread_takes_stop_and_reload_signals(write_config, sink, spawn):
    """A stop signal the kernel gives to a worker thread waits for the main loop to look;
    every thread of the daemon blocks them, so the main thread gets them at once."""
    import urllib.request

    path = write_config(f"""
        dev_sno: {LICENCE}
        WEB_HEART_URL: {sink.url}
        WEB_HEART_TIME: 1
        devices:
          - {{url: "rtsp://127.0.0.5:9/ch2", probe: rtsp}}
    """)
    port = int(open(path).read().split("api_port: ")[1].split()[0])
    reporter = spawn("--config", path, "run")
    wait_for(lambda: len(sink.received) >= 2, timeout=15)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as answer:
        assert answer.status == 200  # the API's threads are up too
    masks = _blocked(reporter.pid)
    assert len(masks) >= 4, masks  # probe, beat, events, the POST and API workers...
    stops = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1)) | (1 << (signal.SIGHUP - 1))
    assert {name: mask & stops for name, mask in masks.items()} == {name: stops for name in masks}
    reporter.send_signal(signal.SIGTERM)
    assert stop(reporter)[0] == 0
